"""Dataset pages: datasets, their versions, a preview of items, the diff of two versions, and a new dataset."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from core.errors import ApplicationError, NotFoundError
from core.models import User
from core.views import role_required
from datasets.forms import DatasetForm
from datasets.selectors import dataset_get, dataset_version_get, datasets_with_versions
from datasets.selectors_diff import CLASSES, PAGE_SIZE, version_diff_counts, version_diff_page
from datasets.services.datasets import dataset_create

ITEM_PREVIEW = 50


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def dataset_list(request):
    datasets = datasets_with_versions()
    return render(request, "datasets/list.html", {"datasets": datasets})


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def dataset_detail(request, name):
    dataset = dataset_get(name=name)
    versions = list(dataset.versions.select_related("created_by"))
    shown = versions[0] if versions else None
    if "version" in request.GET and versions:
        shown = next((v for v in versions if str(v.number) == request.GET["version"]), shown)
    items = shown.items.all()[:ITEM_PREVIEW] if shown else []
    return render(
        request, "datasets/detail.html", {"dataset": dataset, "versions": versions, "shown": shown, "items": items}
    )


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def dataset_diff(request, name):
    """Two versions side by side: counts, then a page of each list (or one list paged with `show` and `offset`)."""
    dataset = dataset_get(name=name)
    numbers = list(dataset.versions.values_list("number", flat=True))  # newest first
    context = {"dataset": dataset, "numbers": numbers, "page_size": PAGE_SIZE}
    if "from" not in request.GET or "to" not in request.GET:
        # the form alone, set to the two newest versions
        context.update(
            {"old_number": numbers[1] if len(numbers) > 1 else None, "new_number": numbers[0] if numbers else None}
        )
        return render(request, "datasets/diff.html", context)
    try:
        old = dataset_version_get(dataset_name=name, number=request.GET["from"])
        new = dataset_version_get(dataset_name=name, number=request.GET["to"])
    except NotFoundError as exc:
        raise Http404(exc.message) from None
    show = request.GET.get("show")
    try:
        offset = max(0, int(request.GET.get("offset", 0))) if show in CLASSES else 0
    except ValueError:
        offset = 0
    pages = [
        version_diff_page(old=old, new=new, kind=kind, offset=offset, with_values=True)
        for kind in ([show] if show in CLASSES else CLASSES)
    ]
    context.update(
        {
            "old": old,
            "new": new,
            "old_number": old.number,
            "new_number": new.number,
            "show": show if show in CLASSES else None,
            "counts": version_diff_counts(old=old, new=new),
            "pages": pages,
        }
    )
    return render(request, "datasets/diff.html", context)


@role_required(User.Role.DATA_SCIENTIST)
def dataset_new(request):
    """Name a dataset; its page then takes the first version's file (dropped or chosen) with the upload's progress."""
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Dataset {dataset.name} created: upload its first version below.")
            return redirect("dataset-detail", name=dataset.name)
    return render(request, "datasets/new.html", {"form": form})
