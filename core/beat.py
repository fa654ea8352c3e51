"""Celery beat's scheduler: one beat per schedule file, and a heartbeat of its own on every tick."""

import fcntl
import os
import sys
import time

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import close_old_connections

from core.heartbeat import heartbeat_record
from core.models import Heartbeat


class SingleHeartbeatScheduler(PersistentScheduler):
    """The default shelve scheduler, plus two guarantees.

    - A second beat on the same schedule file exits at once: it would send every periodic task twice. The lock
      is flock(2) on `<schedule>.lock`, so the kernel drops it when its holder dies, even by SIGKILL: a stale
      pidfile can never keep a new beat out, and a live beat always does.
    - Beat records its own heartbeat (at least every SIGNOFF_HEARTBEAT_SECONDS), independent of the worker, so
      /healthz can tell a dead beat from a dead worker.
    """

    def setup_schedule(self):
        self._lock_file = open(f"{self.schedule_filename}.lock", "a+")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            print(
                f"beat: {self.schedule_filename}.lock is held by pid {holder}; one beat only. Exiting.", file=sys.stderr
            )
            raise SystemExit(3) from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self._heartbeat_due = 0.0
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        interval = settings.SIGNOFF_HEARTBEAT_SECONDS
        if time.monotonic() >= self._heartbeat_due:
            try:
                close_old_connections()  # beat holds its connection for days (Celery closes the worker's per task)
                heartbeat_record(component=Heartbeat.Component.BEAT)
                self._heartbeat_due = time.monotonic() + interval
            except Exception:
                self.logger.exception("beat: could not record its heartbeat")
        return min(super().tick(*args, **kwargs), interval)
