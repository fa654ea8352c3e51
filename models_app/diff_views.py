"""The prediction diff page of a model version: against the version in production unless another is picked, on one
of the dataset versions it has predictions for; counts, counts per tag, and the changed items side by side."""

import json
from typing import Any

from django.http import Http404
from django.shortcuts import render

from core.errors import ApplicationError, NotFoundError
from core.models import User
from core.views import role_required
from models_app.selectors import model_version_get
from models_app.selectors_diff import (
    NORMALIZE,
    PAGE_SIZE,
    prediction_diff_changed_page,
    prediction_diff_counts,
    prediction_sets_for_diff,
)
from models_app.services.diff import diff_against


def _text(output: Any) -> str:
    # what the word diff compares: a text output as it is, anything else as indented JSON
    return output if isinstance(output, str) else json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False)


def _offset(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)  # outputs are what blind review hides from reviewers
def model_version_diff(request, name, version):
    try:
        this = model_version_get(model_name=name, version=version)
    except NotFoundError as exc:
        raise Http404(exc.message) from None
    sets = list(this.prediction_sets.select_related("dataset_version__dataset").order_by("-created_at"))
    normalize = request.GET.get("normalize") if request.GET.get("normalize") in NORMALIZE else "exact"
    context: dict[str, Any] = {
        "mv": this,
        "others": this.model.versions.exclude(pk=this.pk).order_by("-created_at"),
        "dataset_versions": [s.dataset_version for s in sets],
        "normalize": normalize,
        "page_size": PAGE_SIZE,
    }
    chosen = request.GET.get("dataset_version") or (
        f"{sets[0].dataset_version.dataset.name}:{sets[0].dataset_version.number}" if sets else ""
    )
    context["chosen"] = chosen
    try:
        against = diff_against(version=this, against=request.GET.get("against") or None)
        context["against"] = against
        dataset_version = next(
            (
                s.dataset_version
                for s in sets
                if f"{s.dataset_version.dataset.name}:{s.dataset_version.number}" == chosen
            ),
            None,
        )
        if dataset_version is None:
            raise ApplicationError(f"{this} has no predictions on {chosen or 'any dataset version'} yet.")
        a, b = prediction_sets_for_diff(version=this, against=against, dataset_version=dataset_version)
        page = prediction_diff_changed_page(a=a, b=b, normalize=normalize, offset=_offset(request.GET.get("offset")))
    except (ApplicationError, NotFoundError) as exc:
        context["error"] = exc.message
        return render(request, "models_app/version_diff.html", context)
    for row in page.rows:
        row["text"], row["against_text"] = _text(row["output"]), _text(row["against_output"])
    context.update(
        {
            "counts": prediction_diff_counts(a=a, b=b, normalize=normalize),
            "page": page,
            "dataset_version": dataset_version,
        }
    )
    return render(request, "models_app/version_diff.html", context)
