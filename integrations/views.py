"""The MLflow card's one action: send a write MLflow has not taken again now."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFoundError
from core.models import User
from core.views import role_required
from integrations.models import MlflowSync
from integrations.services.mlflow_out import mlflow_sync_retry


@require_POST
@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)  # who sees the version's page
def mlflow_sync_retry_view(request, pk):
    sync = MlflowSync.objects.select_related("link__model_version__model").filter(pk=pk).first()
    if sync is None:
        raise NotFoundError("No such MLflow write.", code="sync_not_found")
    try:
        mlflow_sync_retry(sync=sync)
        messages.success(request, f"The {sync.kind} will be sent to MLflow again now.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    version = sync.link.model_version
    return redirect("model-version-detail", name=version.model.name, version=version.version)
