"""Settings shared by every environment; each value can come from the environment (12-factor)."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

from config.storage_url import default_storage_from_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
VAR_DIR = Path(env.str("SIGNOFF_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc from the installed package, not a CDN
    "csp",
    "django_filters",  # the list filters (API and pages)
    "core",
    "datasets",
    "models_app",
    "webhooks",
    "notifications",  # e-mail: the apps above register their kinds and publish into its outbox
    "reviews",
    "integrations",  # optional bridges to other tools (MLflow), plugged in through the registry's hooks
    "inspections",  # production logs, periodic inspections and their alerts, plugged in through the same hooks
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",  # after WhiteNoise: static files need no policy
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApplicationErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviews.context_processors.chain_alert",
                "core.context_processors.background_alert",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'signoff.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; the timeout rides out short write locks; and
    # IMMEDIATE transactions take the write lock up front, so a read-then-write transaction (claiming a task)
    # waits its turn instead of failing with "database is locked" when it tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Server-side binding lets psycopg prepare a statement the second time a connection sends it, so
    # PostgreSQL stops planning get-next's and submit's statements afresh on every request (-15% of its CPU
    # per request, docs/bench-next-task.md). Behind PgBouncer, it needs 1.21+ with max_prepared_statements set;
    # DATABASE_PREPARED_STATEMENTS=false turns it off.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 2})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Kept results (reviews/results_cache.py) and the API's throttle counters. The default is each process's memory,
# correct for results because their key is read from the database; redis://host:6379/n shares them between the
# web processes, so a campaign's results are computed once rather than once per process.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Media, uploads and resumable parts: local disk under MEDIA_ROOT by default; an S3-API bucket with
# SIGNOFF_STORAGE_URL=s3://bucket?endpoint=...&region=...&prefix=... (config/storage_url.py, docs/deploy.md).
SIGNOFF_STORAGE_URL = env.str("SIGNOFF_STORAGE_URL", default="")
STORAGES = {
    "default": default_storage_from_url(SIGNOFF_STORAGE_URL),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.TokenAuthentication",  # knox: stores only a SHA-512 digest of each token
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.SignoffAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,  # core.pagination.PAGE_SIZE; `?page_size=` up to 500
    "UNAUTHENTICATED_USER": None,
}
# API tokens expire after this many days unless made otherwise (0 = never); `createtoken --expires never` for CI bots.
SIGNOFF_TOKEN_TTL_DAYS = env.int("SIGNOFF_TOKEN_TTL_DAYS", default=90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=SIGNOFF_TOKEN_TTL_DAYS) if SIGNOFF_TOKEN_TTL_DAYS else None,
    "TOKEN_PREFIX": "so_",
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Signoff API",
    "DESCRIPTION": "Upload datasets and predictions, run expert review campaigns, poll the release gate.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CampaignKindEnum": "reviews.models.Campaign.Kind",
        "ModelStageEnum": "models_app.models.ModelVersion.Stage",
        "UploadKindEnum": "datasets.models.Upload.Kind",
        "InspectionKindEnum": "inspections.models.InspectionSchedule.Kind",
    },
    # core.converters.IdConverter: a database id, 1..2**63-1
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
}
# The API docs' scripts and styles come from drf-spectacular-sidecar: no CDN, so they work offline and under the CSP.
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "SWAGGER_UI_SETTINGS": {"validatorUrl": None},  # no badge fetched from validator.swagger.io
    }
)

# Content-Security-Policy on every response (django-csp 4). Scripts and styles come from this site only; the one
# kind of inline script allowed carries the request's nonce (django-csp adds it to the header only when a page
# uses it). Item images and thumbnails are served by the app or embedded as data: URLs. See README, "Security".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
    "rest_framework.renderers.JSONRenderer",
    "core.renderers.BrowsableAPIRenderer",
]

# Background work. The embedded default needs no server: kombu's filesystem transport.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = Path(env.str("SIGNOFF_BROKER_DIR", default=str(VAR_DIR / "broker")))


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport: each message is a file in `queue/`; both sides must share the folder."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(folder / "control"),
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        # kombu sleeps this long whenever the queue folder is empty; its default of 1 s put ~0.9 s between a
        # sign-off and its webhook. 0.05 s costs ~0.6 % of a core per idle worker (measured: docs/bench-webhook.md).
        "polling_interval": env.float("SIGNOFF_BROKER_POLL_SECONDS", default=0.05),
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
CELERY_TASK_DEFAULT_QUEUE = env.str("SIGNOFF_CELERY_QUEUE", default="signoff")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # The outbox sweeper: any delivery whose message was lost or whose retry is due goes out.
    "webhooks-dispatch-due": {"task": "webhooks.tasks.webhooks_dispatch_due", "schedule": timedelta(seconds=30)},
    # Abandoned tasks go back to the pool when their lease runs out.
    "assignments-expire": {"task": "reviews.tasks.assignments_expire_all", "schedule": timedelta(seconds=60)},
    # Uploads whose worker died mid-read go back to a worker.
    "uploads-requeue-stale": {"task": "datasets.tasks.requeue_stale_uploads", "schedule": timedelta(seconds=60)},
    # Expired API tokens are refused at once; their rows go hourly (see core/auth.py).
    "tokens-delete-expired": {"task": "core.tasks.tokens_delete_expired_task", "schedule": timedelta(hours=1)},
    # The whole verdict hash chain is walked and checked against its anchors (see reviews/services/chain.py).
    "verdict-chain-check": {
        "task": "reviews.tasks.verdict_chain_check_task",
        "schedule": timedelta(seconds=env.int("SIGNOFF_CHAIN_CHECK_SECONDS", default=3600)),
    },
}
# Heartbeats (core/heartbeat.py): beat records its own on every tick and sends the worker one to run; /healthz
# and the admins' banner call a process dead when its heartbeat is older than the max age.
SIGNOFF_HEARTBEAT_SECONDS = env.float("SIGNOFF_HEARTBEAT_SECONDS", default=15.0)
SIGNOFF_HEARTBEAT_MAX_AGE_SECONDS = env.float("SIGNOFF_HEARTBEAT_MAX_AGE_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {
    "task": "core.tasks.heartbeat_worker_task",
    "schedule": timedelta(seconds=SIGNOFF_HEARTBEAT_SECONDS),
    "options": {
        "expires": SIGNOFF_HEARTBEAT_SECONDS
    },  # heartbeats queued while no worker ran are dropped, not replayed
}
CELERY_BEAT_SCHEDULER = "core.beat.SingleHeartbeatScheduler"

# E-mail notifications (notifications/). EMAIL_URL, parsed by django-environ: smtp://user:pass@host:25,
# smtp+tls://…:587, smtp+ssl://…:465; unset, messages are written to the worker's console (nothing leaves the machine).
# (An empty EMAIL_URL, as docker-compose.yml passes when it is unset, means the console too.)
EMAIL_CONFIG = env.email_url_config(env.str("EMAIL_URL", default="") or "consolemail://")
vars().update({key: value for key, value in EMAIL_CONFIG.items() if value is not None})
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT_SECONDS", default=10.0)  # a hung mail server holds a worker this long at most
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Signoff <signoff@localhost>")
# Where people reach this server: the links in e-mails (and anything else read outside the browser) start with it.
SIGNOFF_BASE_URL = env.str("SIGNOFF_BASE_URL", default="http://127.0.0.1:8000")
# Tries before a message is marked failed (backoff 30 s doubling, at most an hour apart: about 6 hours in all).
SIGNOFF_EMAIL_MAX_ATTEMPTS = env.int("SIGNOFF_EMAIL_MAX_ATTEMPTS", default=12)
# An endpoint's owner is e-mailed once per streak of this many failed attempts in a row (or a delivery given up).
SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER = env.int("SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER", default=5)
CELERY_BEAT_SCHEDULE["notifications-dispatch-due"] = {
    "task": "notifications.tasks.notifications_dispatch_due",
    "schedule": timedelta(seconds=30),
}
# MLflow, both ways (integrations/mlflow): off unless a tracking server is named. In: versions registered there become
# candidates here (its webhooks, and a reconcile on beat so a lost webhook loses nothing); out: a verdict's tags and
# the production alias, through an outbox retried like webhooks.
SIGNOFF_MLFLOW_TRACKING_URI = env.str("SIGNOFF_MLFLOW_TRACKING_URI", default="").rstrip("/")
SIGNOFF_MLFLOW_TOKEN = env.str("SIGNOFF_MLFLOW_TOKEN", default="")  # sent as a bearer token when set
SIGNOFF_MLFLOW_WEBHOOK_SECRET = env.str("SIGNOFF_MLFLOW_WEBHOOK_SECRET", default="")
SIGNOFF_MLFLOW_ALIAS = env.str("SIGNOFF_MLFLOW_ALIAS", default="champion")
SIGNOFF_MLFLOW_RECONCILE_SECONDS = env.int("SIGNOFF_MLFLOW_RECONCILE_SECONDS", default=60)
SIGNOFF_MLFLOW_TIMEOUT_SECONDS = env.float("SIGNOFF_MLFLOW_TIMEOUT_SECONDS", default=10.0)
if SIGNOFF_MLFLOW_TRACKING_URI:
    CELERY_BEAT_SCHEDULE["mlflow-reconcile"] = {
        "task": "integrations.tasks.mlflow_reconcile_task",
        "schedule": timedelta(seconds=SIGNOFF_MLFLOW_RECONCILE_SECONDS),
        "options": {"expires": SIGNOFF_MLFLOW_RECONCILE_SECONDS},  # one missed run is replaced by the next
    }
    CELERY_BEAT_SCHEDULE["mlflow-outbox-due"] = {
        "task": "integrations.tasks.mlflow_outbox_dispatch_due",
        "schedule": timedelta(seconds=30),
    }

# How long a reviewer may take back a judgment they just gave.
SIGNOFF_UNDO_SECONDS = env.int("SIGNOFF_UNDO_SECONDS", default=120)
# While judgments arrive, a campaign's results page and API may show results computed up to this many seconds
# before the latest judgment (reviews/results_cache.py); a lead's own change is shown at once.
SIGNOFF_RESULTS_MAX_STALE_SECONDS = env.float("SIGNOFF_RESULTS_MAX_STALE_SECONDS", default=5.0)
# A campaign with at least this many counted judgments keeps its read rows in each web process between two results,
# and the next computation reads only what is new (reviews.results_rows); smaller ones are read in full each time.
SIGNOFF_RESULTS_KEEP_ROWS_FROM = env.int("SIGNOFF_RESULTS_KEEP_ROWS_FROM", default=20_000)
# Uploads up to this size are ingested in the request; larger ones go to the worker (202).
SIGNOFF_SYNC_UPLOAD_MAX_BYTES = env.int("SIGNOFF_SYNC_UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)
# How often beat looks for inspection periods that ended (and for alerts); a period runs at most this late.
SIGNOFF_INSPECTIONS_SWEEP_SECONDS = env.float("SIGNOFF_INSPECTIONS_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["inspections-run-due"] = {
    "task": "inspections.tasks.inspections_run_due_task",
    "schedule": timedelta(seconds=SIGNOFF_INSPECTIONS_SWEEP_SECONDS),
}
# A worker reading an upload writes its progress every half second; an upload silent this long had its worker die
# (SIGKILL, a lost node) and beat's sweep hands it to another. Shorter recovers sooner, but a worker stalled longer
# than this (swapping, a frozen VM) would see its upload handed to a second worker as well, and read twice. Tasks
# are acknowledged on receipt, so recovery is this sweep (and the outbox's for webhooks), not broker redelivery.
SIGNOFF_UPLOAD_STALE_SECONDS = env.int("SIGNOFF_UPLOAD_STALE_SECONDS", default=120)
# The largest upload accepted: a resumable (tus) one, and a production log file sent in one request.
SIGNOFF_MAX_UPLOAD_BYTES = env.int("SIGNOFF_MAX_UPLOAD_BYTES", default=20 * 1024**3)
# A ZIP upload is refused from its directory, before any member is unpacked, beyond these
# (datasets/archives.py ArchiveLimits): declared uncompressed bytes in all, members, unpacked/packed ratio.
SIGNOFF_ZIP_MAX_BYTES = env.int("SIGNOFF_ZIP_MAX_BYTES", default=2 * 1024**3)
SIGNOFF_ZIP_MAX_MEMBERS = env.int("SIGNOFF_ZIP_MAX_MEMBERS", default=100_000)
SIGNOFF_ZIP_MAX_RATIO = env.int("SIGNOFF_ZIP_MAX_RATIO", default=200)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_HANDLERS = ["core.uploads.MemoryUploadHandler", "core.uploads.TemporaryUploadHandler"]
# Hosts that outgoing webhooks may reach even though they resolve to private addresses.
SIGNOFF_WEBHOOK_ALLOW_HOSTS = env.list("SIGNOFF_WEBHOOK_ALLOW_HOSTS", default=[])
SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = env.float("SIGNOFF_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
SIGNOFF_WEBHOOK_MAX_ATTEMPTS = env.int("SIGNOFF_WEBHOOK_MAX_ATTEMPTS", default=8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Logins and API throttling (see README, "Logins"). Failed logins are counted per account and per address by
# django-axes in the database, so every web process sees the same counts; AxesMiddleware must stay last.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("SIGNOFF_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("SIGNOFF_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks: an account, or an address
AXES_LOCKOUT_CALLABLE = "core.account_views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "core.account_views.client_ip"
# Reverse proxies in front of Django that append to X-Forwarded-For (0: the client is REMOTE_ADDR).
SIGNOFF_PROXY_COUNT = env.int("SIGNOFF_PROXY_COUNT", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = SIGNOFF_PROXY_COUNT  # 0, not None: None would trust any X-Forwarded-For
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["core.throttling.AnonRateThrottle"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env.str("SIGNOFF_THROTTLE_ANON", default="60/minute"),  # per address, what anonymous may call
    "tokens": env.str("SIGNOFF_THROTTLE_TOKENS", default="30/minute"),  # per user, /api/v1/tokens/
}
KNOX_TOKEN_MODEL = "knox.AuthToken"  # knox's own default, named so that core.TokenLabel's migration can point at it

Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
