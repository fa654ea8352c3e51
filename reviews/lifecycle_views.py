"""The campaign's life in the browser: its lead pauses, resumes, closes and extends it, and adds reviewers."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.models import User
from core.views import role_required
from datasets.models import DatasetVersion
from reviews.models import Campaign
from reviews.selectors import campaign_get_for_user
from reviews.services.lifecycle import campaign_extend, campaign_reviewers_add, campaign_status_set


def lead_controls(campaign: Campaign, user: User) -> dict | None:
    """What the campaign page offers its lead (or an admin): the dataset's other versions, the reviewers to add."""
    if not (user.pk == campaign.created_by_id or user.has_role()) or campaign.status == Campaign.Status.CLOSED:
        return None
    return {
        "versions": (
            DatasetVersion.objects.filter(dataset_id=campaign.dataset_version.dataset_id)
            .exclude(pk=campaign.dataset_version_id)
            .order_by("-number")
        )
        if not campaign.decision
        else [],
        "reviewers": User.objects.filter(is_active=True, role=User.Role.REVIEWER)
        .exclude(pk__in=campaign.reviewers.values("pk"))
        .order_by("username"),
    }


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
        version = DatasetVersion.objects.filter(
            dataset_id=campaign.dataset_version.dataset_id, pk=request.POST.get("dataset_version") or 0
        ).first()
        if version is None:
            raise ApplicationError("Choose a version of the campaign's dataset.", code="invalid")
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
