"""Periodic review work: thin wrappers over the services."""
from celery import shared_task

from reviews.services.assignments import assignments_expire


@shared_task(ignore_result=True)
def assignments_expire_all() -> int:
    """Beat: give every campaign's tasks with a run-out lease back to the pool."""
    return assignments_expire()


@shared_task(ignore_result=True)
def campaign_gate_check_task(campaign_id: int) -> str:
    from reviews.services.decisions import campaign_gate_check

    return campaign_gate_check(campaign_id=campaign_id)
