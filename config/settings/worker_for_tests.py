"""A worker started by the tests: the test settings, on the database and queue the test run hands it."""

from pathlib import Path

from .base import env
from .test import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = env.str("SIGNOFF_CELERY_QUEUE")
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    BROKER_DIR = Path(env.str("SIGNOFF_BROKER_DIR"))
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)  # noqa: F405
