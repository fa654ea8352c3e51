"""Registry pages: models, versions with their stage history (verdicts appear as its causes), the move to production,
and new models and versions."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.models import User
from core.pagination import page_of
from core.views import role_required
from datasets.models import DatasetVersion
from models_app import hooks
from models_app.filters import RegisteredModelFilter
from models_app.forms import ModelVersionForm, RegisteredModelForm
from models_app.models import ModelVersion
from models_app.selectors import model_version_get, registered_model_get, registered_models_with_versions
from models_app.services.registry import model_version_create, model_version_set_stage, registered_model_create


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def registry(request):
    found = RegisteredModelFilter(request.GET, queryset=registered_models_with_versions(), request=request)
    return render(
        request, "models_app/registry.html", {"filter": found, "page": page_of(request, found.qs, per_page=20)}
    )


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def model_version_detail(request, name, version):
    model_version = model_version_get(model_name=name, version=version)
    context = {
        "mv": model_version,
        "transitions": model_version.transitions.select_related("actor"),
        "prediction_sets": model_version.prediction_sets.select_related("dataset_version__dataset"),
        "may_promote": request.user.has_role(User.Role.APPROVER) and model_version.stage == ModelVersion.Stage.APPROVED,
        "may_upload": request.user.has_role(User.Role.DATA_SCIENTIST),
        "dataset_versions": [
            (f"{v.dataset.name}:{v.number}", str(v))
            for v in DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-number")[:500]
        ],
        "panels": hooks.version_panels(model_version),  # cards other apps add (the MLflow sync's state)
    }
    return render(request, "models_app/version_detail.html", context)


@require_POST
@role_required(User.Role.APPROVER)
def model_version_promote(request, name, version):
    model_version = model_version_get(model_name=name, version=version)
    reason = request.POST.get("reason", "")
    try:
        model_version_set_stage(
            version=model_version,
            to_stage=ModelVersion.Stage.PRODUCTION,
            actor=request.user,
            reason=reason,
        )
        messages.success(request, f"{model_version} is now in production.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("model-version-detail", name=name, version=version)


@role_required(User.Role.DATA_SCIENTIST)
def model_new(request):
    """Name a model; its first version comes next (a model without versions has nothing to review)."""
    form = RegisteredModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = registered_model_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Model {model.name} registered: add its first version.")
            return redirect("model-version-new", name=model.name)
    return render(request, "models_app/model_new.html", {"form": form})


@role_required(User.Role.DATA_SCIENTIST)
def model_version_new(request, name):
    """Register a version with its params and metrics; its page then takes prediction uploads."""
    model = registered_model_get(name=name)
    form = ModelVersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = model_version_create(model=model, created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error("version", exc.message)
        else:
            messages.success(request, f"{version} registered as a candidate: upload its predictions below.")
            return redirect("model-version-detail", name=model.name, version=version.version)
    return render(request, "models_app/version_new.html", {"model": model, "form": form})
