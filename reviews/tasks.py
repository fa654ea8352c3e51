"""Periodic review work: thin wrappers over the services."""

from celery import shared_task

from reviews.models import ChainCheck
from reviews.services.assignments import assignments_expire
from reviews.services.chain import verdict_chain_check
from reviews.services.decisions import campaign_gate_check


@shared_task(ignore_result=True)
def assignments_expire_all() -> int:
    """Beat: give every campaign's tasks with a run-out lease back to the pool."""
    return assignments_expire()


@shared_task(ignore_result=True)
def campaign_gate_check_task(campaign_id: int, force: bool = False) -> str:
    return campaign_gate_check(campaign_id=campaign_id, force=force)


@shared_task(ignore_result=True)
def verdict_chain_check_task() -> bool:
    """Beat: walk the verdict chain and record the check; a broken one shows a banner and blocks sign-offs."""
    return verdict_chain_check(trigger=ChainCheck.Trigger.SCHEDULE).ok
