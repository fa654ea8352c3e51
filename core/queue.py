"""Enqueueing a Celery task by its registered name: services enqueue work without importing the tasks modules that
import them (tasks -> services, never back). Each app's AppConfig.ready() imports its tasks so the names resolve;
tests/test_layering.py checks every name enqueued this way is a registered task."""

from collections.abc import Sequence
from typing import Any

# What Celery imports at its first message besides the app's own (see publishing_prepare): loaded with this module
import celery.canvas
import celery.events.dispatcher
import celery.result  # noqa: F401
from celery import current_app
from django.db import transaction


def task_enqueue(name: str, *, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any) -> None:
    """Send now, through the registered task itself, so `task_always_eager` and a test's mock of `.delay` or
    `.apply_async` apply as if the caller had imported it. A name no task has raises KeyError here, not in a worker."""
    task = current_app.tasks[name]
    if not options:
        task.delay(*args, **(kwargs or {}))
    elif kwargs:
        task.apply_async(tuple(args), kwargs, **options)
    else:
        task.apply_async(tuple(args), **options)


def task_enqueue_on_commit(
    name: str, *, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
) -> None:
    """Send once the caller's transaction commits, so no worker sees a row that is not committed."""
    transaction.on_commit(lambda: task_enqueue(name, args=args, kwargs=kwargs, **options))


def publishing_prepare() -> None:
    """Load what Celery loads at its first message (the task registry, the broker's transport and client, the
    producer pool, canvas, result and event modules), without connecting: done at the web process's start, the
    first judgment's gate check no longer pays ~190 ms of imports (docs/bench-next-task.md). Under gunicorn --preload
    this runs before the fork, and each worker opens its own broker connection at its first message."""
    current_app.tasks  # noqa: B018  (finalizes the app: every task class is built)
    current_app.amqp.producer_pool  # noqa: B018
    current_app.connection_for_write().transport  # noqa: B018  (the transport's module and client library)
    current_app.backend  # noqa: B018
