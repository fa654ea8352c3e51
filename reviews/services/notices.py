"""The e-mails a campaign's life sends, through notifications/ (which knows nothing of campaigns): approvers who may
sign when its gate decides, and its lead when it ends. Called inside the transaction of the change, so the mail is
recorded with it (the outbox) and a mail server that is down never holds the change up."""

from collections.abc import Iterable

from django.db.models import Q
from django.urls import reverse

from core.models import User
from notifications.kinds import NotificationKind
from notifications.services import notification_publish
from reviews.models import Campaign
from reviews.selectors import campaign_uploader_ids

SIGNOFF_AWAITED = "signoff_awaited"
CAMPAIGN_ENDED = "campaign_ended"
KINDS = [
    NotificationKind(
        name=SIGNOFF_AWAITED,
        label="a campaign's gate decides and my sign-off is awaited",
        help="Approvers who may sign it (not its lead nor the candidate's uploader).",
    ),
    NotificationKind(name=CAMPAIGN_ENDED, label="a campaign I lead ends", help="Closed by a verdict or by an admin."),
]


def campaign_decided_notify(*, campaign: Campaign, decision: str) -> int:
    """Every active approver (and admin) who may sign this campaign off, as the sign-off queue lists them."""
    uploaders = campaign_uploader_ids(campaign=campaign)
    approvers = (
        User.objects.filter(is_active=True)
        .filter(Q(role__in=[User.Role.APPROVER, User.Role.ADMIN]) | Q(is_superuser=True))
        .exclude(pk__in=uploaders)
    )
    return notification_publish(
        kind=SIGNOFF_AWAITED,
        users=approvers,
        subject=f"Sign-off awaited: campaign {campaign.pk} ({campaign.name}), gate {decision}",
        message=(
            f"The gate of campaign {campaign.pk} “{campaign.name}” decided {decision} "
            f"(candidate {campaign.candidate}). It waits for an approver's sign-off."
        ),
        path=reverse("campaign-detail", kwargs={"pk": campaign.pk}),
    )


def campaigns_ended_notify(*, campaigns: Iterable[Campaign], reason: str, actor: User | None = None) -> int:
    """Each campaign's lead, unless the lead ended it: they know."""
    sent = 0
    for campaign in campaigns:
        if actor is not None and campaign.created_by_id == actor.pk:
            continue
        sent += notification_publish(
            kind=CAMPAIGN_ENDED,
            users=[campaign.created_by],
            subject=f"Campaign {campaign.pk} ({campaign.name}) has ended",
            message=f"Campaign {campaign.pk} “{campaign.name}” has ended. {reason}",
            path=reverse("campaign-detail", kwargs={"pk": campaign.pk}),
        )
    return sent
