"""Heartbeats of the background processes: the worker's and beat's, recorded and judged fresh or stale."""

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core.models import Heartbeat


def heartbeat_record(*, component: str, at: datetime | None = None) -> None:
    """Overwrite the component's row with "seen now, by this process", in one upsert statement."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(component=component, seen_at=at or timezone.now(), hostname=socket.gethostname(), pid=os.getpid())],
        update_conflicts=True,
        unique_fields=["component"],
        update_fields=["seen_at", "hostname", "pid"],
    )


@dataclass(frozen=True)
class ComponentHealth:
    component: str
    seen_at: datetime | None
    age_seconds: float | None
    pid: int | None

    @property
    def alive(self) -> bool:
        return self.age_seconds is not None and self.age_seconds <= settings.SIGNOFF_HEARTBEAT_MAX_AGE_SECONDS

    def describe(self) -> str:
        if self.alive:
            return "ok"
        if self.seen_at is None:
            return "error: never seen"
        return f"error: last seen {self.age_seconds:.0f} s ago"


def heartbeat_health(*, now: datetime | None = None) -> dict[str, ComponentHealth]:
    """Every component's health from one query; a component with no row has never been seen."""
    now = now or timezone.now()
    rows = {row.component: row for row in Heartbeat.objects.all()}
    health = {}
    for component in Heartbeat.Component.values:
        row = rows.get(component)
        health[component] = ComponentHealth(
            component=component,
            seen_at=row.seen_at if row else None,
            age_seconds=max(0.0, (now - row.seen_at).total_seconds()) if row else None,
            pid=row.pid if row else None,
        )
    return health
