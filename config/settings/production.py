"""Production: PostgreSQL, Redis, gunicorn. Refuses to start without its required variables."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, STORAGES, env

for _required in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"):
    if not env.str(_required, default=""):
        raise ImproperlyConfigured(f"Production settings need the environment variable {_required}.")

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
# base.py has already parsed DATABASE_URL and added the engine's OPTIONS (PostgreSQL's prepared statements); keep
# them and add only what production changes.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
STORAGES = {
    **STORAGES,  # "default" as SIGNOFF_STORAGE_URL says
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
