"""The registry's side-by-side comparison of a model's versions (reviews owns it: it shows campaigns and verdicts)."""

from django.shortcuts import render

from core.models import User
from core.views import role_required
from reviews.comparison import MAX_VERSIONS, model_versions_comparison


@role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
def model_versions_compare(request, name):
    comparison = model_versions_comparison(model_name=name, versions=request.GET.getlist("v"), user=request.user)
    context = {"c": comparison, "max_versions": MAX_VERSIONS, "chosen": {v.pk for v in comparison.versions}}
    return render(request, "reviews/version_compare.html", context)
