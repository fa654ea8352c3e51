"""Periodic housekeeping: thin wrappers over services."""
from celery import shared_task

from core.auth import tokens_delete_expired


@shared_task(ignore_result=True)
def tokens_delete_expired_task() -> int:
    """Beat: expired API tokens no longer authenticate; this removes their rows."""
    return tokens_delete_expired()
