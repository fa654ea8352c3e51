"""`manage.py checkheartbeat beat`: exit 0 when the component's heartbeat is fresh, 1 when not (a container's health
check for beat, which has no port and no `celery inspect ping` of its own)."""

from django.core.management.base import BaseCommand, CommandError

from core.heartbeat import heartbeat_health
from core.models import Heartbeat


class Command(BaseCommand):
    help = "Exit 1 unless the worker's or beat's heartbeat is younger than SIGNOFF_HEARTBEAT_MAX_AGE_SECONDS."

    def add_arguments(self, parser):
        parser.add_argument("component", choices=Heartbeat.Component.values)

    def handle(self, *args, component: str, **options):
        health = heartbeat_health()[component]
        if not health.alive:
            raise CommandError(f"{component}: {health.describe()}")
        self.stdout.write(f"{component}: ok, seen {health.age_seconds:.0f} s ago (pid {health.pid})")
