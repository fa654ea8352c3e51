"""The MLflow test server's venv stays outside the app's dependency graph: mlflow's caps (cryptography<51,
gunicorn<27 in every release) once moved the runtime lock down, and bench/ needs gunicorn 27's flags."""

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import mlflow as support

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
APP_LOCKS = ("runtime.txt", "test.txt", "dev.txt")


def pins(lock: str) -> dict[str, str]:
    text = (REQUIREMENTS / lock).read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize("lock", APP_LOCKS)
def test_no_app_lock_holds_mlflow(lock):
    assert not [name for name in pins(lock) if name.startswith("mlflow")]


def test_the_mlflow_lock_is_resolved_alone_with_hashes():
    text = (REQUIREMENTS / "mlflow.txt").read_text()
    assert pins("mlflow.txt")["mlflow"] == "3.17.2"
    assert "dev.txt" not in text  # not resolved within the app's locks (no `-c requirements/dev.txt`)
    # every pin is followed by its hashes (`uv pip install --require-hashes` refuses a lock without them)
    hashed = re.findall(r"^[a-z0-9][a-z0-9._-]*==\S+ \\\n\s+--hash=sha256:", text, flags=re.MULTILINE)
    assert len(hashed) == len(pins("mlflow.txt")) > 50


def test_the_app_venv_has_no_mlflow_and_ships_gunicorn_27():
    assert importlib.util.find_spec("mlflow") is None  # the tests talk to the server over REST
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    help_text = subprocess.run([str(gunicorn), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--no-control-socket" in help_text  # bench/next_task.py and bench/ingest.py pass it; gunicorn 26 lacks it
    assert int(pins("runtime.txt")["gunicorn"].split(".")[0]) >= 27
    assert int(pins("runtime.txt")["cryptography"].split(".")[0]) >= 51


def test_a_missing_mlflow_venv_fails_saying_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(support, "MLFLOW_VENV", tmp_path / ".venv-mlflow")
    with pytest.raises(RuntimeError, match=r"make test.*make \.venv-mlflow/\.ready"):
        support.mlflow_bin("mlflow")
    with pytest.raises(RuntimeError, match="venv is missing"), support.mlflow_server(tmp_path):
        pass


def test_the_mlflow_venv_runs_mlflow():
    version = subprocess.run(
        [str(support.mlflow_bin("mlflow")), "--version"], capture_output=True, text=True, check=True, timeout=120
    )
    assert "3.17.2" in version.stdout
