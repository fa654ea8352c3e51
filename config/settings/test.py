"""Tests: SQLite in a file (so a worker process can share it) unless DATABASE_URL names another."""

import os

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, REST_FRAMEWORK, VAR_DIR, filesystem_broker_options

SECRET_KEY = "test-only-secret-key-not-for-production-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # one file per test run, so concurrent runs on one machine never share a database
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
MEDIA_ROOT = str(VAR_DIR / "test-media")
WHITENOISE_USE_FINDERS = True

# Each test run gets its own queue (and broker folder), so a worker a test starts takes only this run's messages.
CELERY_TASK_DEFAULT_QUEUE = f"signoff-test-{os.getpid()}"
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = VAR_DIR / "test-broker" / str(os.getpid())
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)

# The test client's login() and a bare authenticate() pass no request, which django-axes refuses; logins through
# /login/ (the browser tests, tests/test_logins.py) still go through axes.
AUTHENTICATION_BACKENDS = [
    "tests.support.axes_backend.RequestOptionalAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Throttle counters live in the process's cache across tests; the throttling tests set their own rates.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "tokens": "100000/minute"}}
# Tests read results right after judging: kept results are served only once checked current (tests of the bound
# itself, tests/test_results_cache.py, set their own).
SIGNOFF_RESULTS_MAX_STALE_SECONDS = 0.0
