"""Dataset pages: datasets, their versions, and a preview of items."""
from django.shortcuts import get_object_or_404, render

from core.models import User
from core.views import role_required
from datasets.models import Dataset

ITEM_PREVIEW = 50


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def dataset_list(request):
    datasets = Dataset.objects.prefetch_related("versions").order_by("name")
    return render(request, "datasets/list.html", {"datasets": datasets})


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def dataset_detail(request, name):
    dataset = get_object_or_404(Dataset, name=name)
    versions = list(dataset.versions.select_related("created_by"))
    shown = versions[0] if versions else None
    if "version" in request.GET and versions:
        shown = next((v for v in versions if str(v.number) == request.GET["version"]), shown)
    items = shown.items.all()[:ITEM_PREVIEW] if shown else []
    return render(request, "datasets/detail.html", {"dataset": dataset, "versions": versions, "shown": shown, "items": items})
