"""A lead's change to what a campaign's results are made of, said on the campaign row so no kept copy of the old
results is served again (reviews.results_cache reads the row's updated_at)."""

from django.utils import timezone

from reviews.models import Campaign


def campaign_results_changed(*, campaign_id: int) -> None:
    """Touch the campaign row: in the caller's transaction, so the change and the touch commit together."""
    Campaign.objects.filter(pk=campaign_id).update(updated_at=timezone.now())
