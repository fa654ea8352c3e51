"""The wheel built from pyproject.toml: every app package and every template and static file, found by Django once
installed; and the CLI's own wheel (cli/): the client alone, urllib3 its only dependency."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_ROOTS = ("config", "core", "datasets", "models_app", "reviews", "webhooks", "notifications", "integrations")
DATA_ROOTS = ("templates", "static")
# What a build reads: pyproject.toml, the README it names, and the folders it packs. Copying them first keeps the
# build's scratch folders (build/, *.egg-info) out of the checkout.
BUILD_INPUTS = ("pyproject.toml", "README.md", *APP_ROOTS, *DATA_ROOTS)


def files_under(*roots: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for root in roots
        for path in (ROOT / root).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the build uses the test environment's setuptools (the test extra pins it), so no network.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, "."],
        cwd=source,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("signoff-*.whl")
    return built


def test_wheel_has_every_app_package_module_and_migration(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {name for name in files_under(*APP_ROOTS) if name.endswith(".py")}
    packages = {name for name in modules if name.endswith("/__init__.py")}

    assert {"webhooks/__init__.py", "webhooks/migrations/__init__.py", "reviews/migrations/__init__.py"} <= packages
    assert sorted(packages - names) == []
    assert sorted(modules - names) == []


def test_wheel_has_every_template_and_static_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = files_under(*DATA_ROOTS)

    assert {"templates/base.html", "templates/webhooks/list.html", "static/signoff/app.css"} <= data
    assert sorted(data - names) == []


FIND_FROM_WHEEL = """
import json, sys
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from django.contrib.staticfiles import finders
from django.template.loader import get_template
import config, webhooks
print(json.dumps({
    "config": config.__file__,
    "webhooks": webhooks.__file__,
    "template": get_template("webhooks/list.html").origin.name,
    "static": finders.find("signoff/app.css"),
}))
"""


def test_django_finds_templates_and_static_files_in_the_unpacked_wheel(wheel, tmp_path):
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "SIGNOFF_VAR_DIR": str(tmp_path / "var"),
    }

    # -I: neither the checkout (the current folder, PYTHONPATH) nor the editable install's path comes first.
    found = subprocess.run(
        [sys.executable, "-I", "-c", FIND_FROM_WHEEL, str(site)],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert found.returncode == 0, found.stderr
    paths = {key: Path(value) for key, value in json.loads(found.stdout.splitlines()[-1]).items()}
    assert all(path.is_relative_to(site) for path in paths.values()), paths
    assert paths["template"] == site / "templates" / "webhooks" / "list.html"
    assert paths["static"] == site / "static" / "signoff" / "app.css"


def wheel_metadata(wheel: Path, name: str) -> str:
    archive = zipfile.ZipFile(wheel)
    (path,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
    return archive.read(path).decode()


def test_the_server_wheel_leaves_the_cli_to_its_own_distribution_and_depends_on_it(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith("signoff_cli/")]
    requires = [line for line in wheel_metadata(wheel, "METADATA").splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: signoff-cli" in requires
    assert "entry_points.txt" not in " ".join(names)  # the `signoff` command is the CLI's, not installed twice


@pytest.fixture(scope="module")
def cli_wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("cli-source")
    shutil.copytree(
        ROOT / "cli", source / "cli", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("cli-wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, "."],
        cwd=source / "cli",
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("signoff_cli-*.whl")
    return built


def test_the_cli_wheel_holds_the_client_alone_with_urllib3_as_its_only_dependency(cli_wheel):
    names = zipfile.ZipFile(cli_wheel).namelist()
    modules = {p.relative_to(ROOT / "cli").as_posix() for p in (ROOT / "cli" / "signoff_cli").rglob("*.py")}
    packed = {name for name in names if not name.startswith("signoff_cli-")}
    assert packed == modules
    metadata = wheel_metadata(cli_wheel, "METADATA")
    assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")] == [
        "Requires-Dist: urllib3>=2.2"
    ]
    assert "signoff = signoff_cli.main:main" in wheel_metadata(cli_wheel, "entry_points.txt")
