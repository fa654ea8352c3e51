"""docker-compose.yml scales: `docker compose up --scale web=2 --scale worker=2` behind the proxy, every container on
the one object store. Docker cannot run here, so the wiring is checked by reading the file."""

import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from config.storage_url import default_storage_from_url

# Reads docker-compose.yml: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat", "migrate", "createbucket")


def test_only_the_proxy_has_a_host_port_so_web_and_worker_scale():
    assert [name for name, service in SERVICES.items() if service.get("ports")] == ["proxy"]
    assert SERVICES["web"]["expose"] == ["8000"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    mounted = [volume.split(":")[0] for volume in SERVICES["proxy"]["volumes"]]
    assert mounted == ["./deploy/nginx.conf"]
    # resolved per request through Docker's DNS, so every web container is found, also those added later
    assert "resolver 127.0.0.11" in conf and "set $web http://web:8000;" in conf and "proxy_pass $web;" in conf


def test_every_app_container_uses_the_object_store_and_no_media_volume():
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        storage = default_storage_from_url(env["SIGNOFF_STORAGE_URL"])["OPTIONS"]
        assert urlsplit(storage["endpoint_url"]).hostname == "objects", name
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), name
        assert not SERVICES[name].get("volumes"), f"{name} keeps files on its own disk"
    assert "media" not in (COMPOSE.get("volumes") or {})
    url = urlsplit(SERVICES["web"]["environment"]["SIGNOFF_STORAGE_URL"])
    created = SERVICES["createbucket"]["command"][-1]
    assert f'Bucket="{url.netloc}"' in created and parse_qs(url.query)["endpoint"][0] in created


def test_scaled_services_wait_for_migrations_and_the_bucket_and_beat_stays_single():
    for name in ("web", "worker", "beat"):
        needs = SERVICES[name]["depends_on"]
        assert needs["objects"]["condition"] == "service_healthy", name
        assert needs["migrate"]["condition"] == needs["createbucket"]["condition"] == "service_completed_successfully"
    assert "deploy" not in SERVICES["beat"]  # no replicas: two beats would send every periodic task twice
    assert SERVICES["web"]["environment"]["SIGNOFF_PROXY_COUNT"] == "1"


def test_the_image_copies_every_package_the_distribution_holds():
    """The Dockerfile lists the app's folders one by one (so a change to tests or docs keeps the layer cache): a
    new app listed in pyproject.toml's packages but not copied would fail only when the image first runs."""
    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in included]
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert "cli" in copied  # the CLI, installed from its folder
    assert [name for name in packages if (ROOT / name).is_dir() and name not in copied] == []
