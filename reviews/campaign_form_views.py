"""What the new-campaign form asks for while it is filled in: the model versions a dataset version allows, and a
preview of the first task. JSON for campaign_new.js; both read only."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST

from core.models import User
from core.views import role_required
from datasets.models import DatasetVersion
from models_app.selectors import model_versions_with_predictions
from reviews.form_preview import campaign_first_task_preview
from reviews.forms import CampaignPreviewForm
from reviews.models import Campaign


@require_GET
@role_required(User.Role.DATA_SCIENTIST)
def campaign_new_versions(request):
    """The model versions with predictions on ?dataset_version=<id>: the only ones the form lets one choose."""
    pk = _int(request.GET.get("dataset_version"))
    dataset_version = DatasetVersion.objects.filter(pk=pk).first() if pk is not None else None
    if dataset_version is None:
        return JsonResponse({"errors": {"dataset_version": ["Choose a dataset version."]}}, status=400)
    versions = model_versions_with_predictions(dataset_version=dataset_version)
    return JsonResponse({"model_versions": [{"id": v.pk, "label": str(v)} for v in versions]})


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_new_preview(request):
    """The first task of a campaign with the form's kind, dataset version, versions and content format."""
    form = CampaignPreviewForm(request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"errors": {name: [str(e) for e in errors] for name, errors in form.errors.items()}}, status=400
        )
    data = form.cleaned_data
    versions = [data["candidate"], *([data["baseline"]] if data["baseline"] else []), *data["others"]]
    preview = campaign_first_task_preview(
        kind=data["kind"],
        dataset_version=data["dataset_version"],
        versions=versions,
        content_format=data["content_format"] or "auto",
        labels=data["labels"],
        rubric=data["rubric"],
        items_kept=data["items"] or Campaign.Items.ALL,
    )
    return JsonResponse({"task": preview})


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None
