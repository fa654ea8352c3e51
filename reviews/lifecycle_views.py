"""The campaign's life in the browser: its lead pauses, resumes, closes and extends it, and adds reviewers."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.models import User
from core.views import role_required
from reviews.selectors import campaign_dataset_version_get, campaign_get_for_user
from reviews.services.lifecycle import campaign_extend, campaign_reviewers_add, campaign_status_set


def _acted(request, pk: int, verb, success: str):
    campaign = campaign_get_for_user(campaign_id=pk, user=request.user)
    try:
        result = verb(campaign)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(result=result))
    return redirect("campaign-detail", pk=pk)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_status_view(request, pk):
    status, reason = request.POST.get("status", ""), request.POST.get("reason", "")
    words = {"active": "resumed", "paused": "paused", "closed": "closed"}.get(status, status)
    return _acted(
        request,
        pk,
        lambda c: campaign_status_set(campaign=c, actor=request.user, status=status, reason=reason),
        f"Campaign {words}.",
    )


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_extend_view(request, pk):
    def extend(campaign):
        version = campaign_dataset_version_get(
            campaign=campaign, dataset_version_id=request.POST.get("dataset_version")
        )
        return campaign_extend(campaign=campaign, actor=request.user, dataset_version=version)

    return _acted(request, pk, extend, "{result} items added; the planned end moved with them.")


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def campaign_reviewers_view(request, pk):
    usernames = request.POST.getlist("add")
    if not usernames:
        messages.error(request, "Choose at least one reviewer to add.")
        return redirect("campaign-detail", pk=pk)
    return _acted(
        request,
        pk,
        lambda c: campaign_reviewers_add(campaign=c, actor=request.user, usernames=usernames),
        "Reviewers now: {result}.",
    )
