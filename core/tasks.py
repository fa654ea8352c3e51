"""Periodic housekeeping and the worker's heartbeat: thin wrappers over services."""

from celery import shared_task
from celery.signals import worker_ready

from core.auth import tokens_delete_expired
from core.heartbeat import heartbeat_record
from core.models import Heartbeat


@shared_task(ignore_result=True)
def tokens_delete_expired_task() -> int:
    """Beat: expired API tokens no longer authenticate; this removes their rows."""
    return tokens_delete_expired()


@shared_task(ignore_result=True)
def heartbeat_worker_task() -> None:
    """Beat sends this every SIGNOFF_HEARTBEAT_SECONDS; a worker that runs it has taken a message off the broker,
    which is what "the worker is alive" has to mean for uploads, webhooks and gate checks."""
    heartbeat_record(component=Heartbeat.Component.WORKER)


@worker_ready.connect
def _heartbeat_when_ready(sender=None, **kwargs) -> None:
    """A (re)started worker says so through its own queue at once, not up to one beat interval later."""
    heartbeat_worker_task.delay()
