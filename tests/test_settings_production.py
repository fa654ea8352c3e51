"""config.settings.production, loaded as a deployment loads it: in a fresh process, from environment variables only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Fresh processes with their own settings variables: the same whatever this run uses.
pytestmark = pytest.mark.db_agnostic

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {
    "SECRET_KEY": "production-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "signoff.example.com",
    "DATABASE_URL": "postgres://signoff:secret@db.internal:5432/signoff",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}
# Variables of the test run's own environment that would change what production settings read.
INHERITED = {
    *REQUIRED,
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_PREPARED_STATEMENTS",
    "CONN_MAX_AGE",
    "STATIC_ROOT",
    "SIGNOFF_STORAGE_URL",
}
PRINT_DATABASE = "import json; from django.conf import settings; print(json.dumps(settings.DATABASES['default']))"
PRINT_STORAGES = "import json; from django.conf import settings; print(json.dumps(settings.STORAGES))"


def load_production(tmp_path: Path, script: str = PRINT_DATABASE, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in INHERITED}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", SIGNOFF_VAR_DIR=str(tmp_path), **variables)
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "url_options"),
    [
        ("postgres://signoff:secret@db.internal:5432/signoff", {}),
        ("postgres://signoff:secret@db.internal:5432/signoff?sslmode=require", {"sslmode": "require"}),
    ],
)
def test_production_keeps_the_postgres_options_that_base_sets(tmp_path, url, url_options):
    loaded = load_production(tmp_path, **{**REQUIRED, "DATABASE_URL": url})

    assert loaded.returncode == 0, loaded.stderr
    database = json.loads(loaded.stdout)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["HOST"], database["PORT"]) == ("signoff", "db.internal", 5432)
    # Prepared statements (base.py) on top of whatever the URL asks for, and production's persistent connections.
    assert database["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 2, **url_options}
    assert database["CONN_MAX_AGE"] == 60


def test_production_prepared_statements_can_be_turned_off_and_conn_max_age_set(tmp_path):
    loaded = load_production(tmp_path, **REQUIRED, DATABASE_PREPARED_STATEMENTS="false", CONN_MAX_AGE="0")

    assert loaded.returncode == 0, loaded.stderr
    database = json.loads(loaded.stdout)
    assert "server_side_binding" not in database.get("OPTIONS", {})
    assert database["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_production_refuses_to_start_without_a_required_variable(tmp_path, missing):
    loaded = load_production(tmp_path, **{name: value for name, value in REQUIRED.items() if name != missing})

    assert loaded.returncode != 0
    assert f"ImproperlyConfigured: Production settings need the environment variable {missing}." in loaded.stderr


def test_production_keeps_media_on_local_disk_unless_a_storage_url_names_a_bucket(tmp_path):
    local = load_production(tmp_path, PRINT_STORAGES, **REQUIRED)
    assert local.returncode == 0, local.stderr
    storages = json.loads(local.stdout)
    assert storages["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert storages["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"

    url = "s3://media?endpoint=http://objects:9000&region=us-east-1"
    bucket = load_production(tmp_path, PRINT_STORAGES, **REQUIRED, SIGNOFF_STORAGE_URL=url)
    assert bucket.returncode == 0, bucket.stderr
    default = json.loads(bucket.stdout)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (default["OPTIONS"]["bucket_name"], default["OPTIONS"]["endpoint_url"]) == ("media", "http://objects:9000")
