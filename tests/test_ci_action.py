"""The CLI as CI installs it, and the GitHub Action that gates a release on the verdict.

The action's own steps run here: each `run:` script read from .github/actions/signoff-gate/action.yml, its
`${{ inputs.NAME }}` expressions substituted the way the runner does, under `bash --noprofile --norc -eo pipefail` as
the runner starts it, with GITHUB_ACTION_PATH, GITHUB_OUTPUT and RUNNER_TEMP set, against a live server. Its install
step makes a fresh virtualenv and installs cli/ into it: the same run shows the CLI installs alone (signoff-cli and
urllib3, nothing else) and how long that takes.

No network: pip reads the locked urllib3 and setuptools (the CLI's build backend) wheels from a folder instead of
PyPI (PIP_NO_INDEX, PIP_FIND_LINKS). That folder (var/wheelhouse) is filled once from PyPI, checked against the
lock's hashes, and reused by every later run.
"""

import ensurepip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.test_cli import judge_all, sign, token_for

pytestmark = pytest.mark.django_db(transaction=True)  # the live server reads what the test commits

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / ".github" / "actions" / "signoff-gate" / "action.yml"
WHEELHOUSE = ROOT / "var" / "wheelhouse"
# The only expression the action's steps may hold, and only in `env:` values.
INPUT_EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")
PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
STEP_OUTPUT_EXPRESSION = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


def locked(names: set[str]) -> str:
    """The lock's entries (version and hashes) for these packages, as a requirements file."""
    text = (ROOT / "requirements" / "test.txt").read_text()
    entries = re.findall(r"^(([a-z0-9-]+)==\S+ \\\n(?:    --hash=\S+(?: \\)?\n)+)", text, re.MULTILINE)
    found = {name: entry for entry, name in entries if name in names}
    assert set(found) == names, f"not in requirements/test.txt: {names - set(found)}"
    return "".join(found.values())


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    requirements = locked({"urllib3", "setuptools"})
    pins = re.findall(r"^([a-z0-9-]+)==(\S+)", requirements, re.MULTILINE)
    if not all(list(WHEELHOUSE.glob(f"{name}-{version}-*.whl")) for name, version in pins):
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        (WHEELHOUSE / "requirements.txt").write_text(requirements)
        download = subprocess.run(
            [*PIP_DOWNLOAD, "--require-hashes", "-r", "requirements.txt", "-d", "."],
            cwd=WHEELHOUSE,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert download.returncode == 0, download.stderr
    return WHEELHOUSE


@pytest.fixture(scope="module")
def action_checkout(tmp_path_factory) -> Path:
    """The action and the CLI where a workflow's checkout has them; a copy, so pip's build leaves the checkout as it
    was (it writes build/ and *.egg-info beside the sources)."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / ".github", repo / ".github")
    shutil.copytree(ROOT / "cli", repo / "cli", ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    return repo / ".github" / "actions" / "signoff-gate"


def substitute(value: str, inputs: dict[str, str]) -> str:
    return INPUT_EXPRESSION.sub(lambda match: inputs[match.group(1)], value)


def run_action(action: dict, action_path: Path, runner_temp: Path, wheelhouse: Path, **given: str) -> dict:
    """Run the composite action's steps in order, as the runner would: a failed step ends the run. Returns the
    action's outputs, each step's exit code and what the steps printed."""
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    assert set(given) <= set(inputs), set(given) - set(inputs)
    missing = [name for name, spec in action["inputs"].items() if spec.get("required") and name not in given]
    assert not missing, f"required inputs not given: {missing}"
    inputs.update(given)
    base_env = {
        "PATH": f"{Path(sys.base_prefix) / 'bin'}:/usr/bin:/bin",  # python3 without the test's virtualenv
        "HOME": str(runner_temp),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_ACTION_PATH": str(action_path),
        "PIP_NO_INDEX": "1",  # PyPI stands in as a folder of the locked wheels
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONFIG_FILE": os.devnull,
    }
    step_outputs: dict[str, dict[str, str]] = {}
    codes, logs = [], []
    for number, step in enumerate(action["runs"]["steps"]):
        script = step["run"]
        assert "${{" not in script, f"step {number}: keep expressions in env:, where the test can substitute them"
        assert step["shell"] == "bash"
        output_file = runner_temp / f"output-{number}"
        output_file.write_text("")
        script_file = runner_temp / f"step-{number}.sh"
        script_file.write_text(script)
        env = {**base_env, "GITHUB_OUTPUT": str(output_file)}
        env.update({name: substitute(str(value), inputs) for name, value in (step.get("env") or {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        codes.append(done.returncode)
        logs.append(done.stdout + done.stderr)
        if "id" in step:
            pairs = [line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line]
            step_outputs[step["id"]] = dict(pairs)
        if done.returncode != 0:
            break
    outputs = {}
    for name, spec in action["outputs"].items():
        match = STEP_OUTPUT_EXPRESSION.match(spec["value"])
        assert match, f"output {name}: {spec['value']}"
        outputs[name] = step_outputs.get(match.group(1), {}).get(match.group(2), "")
    return {"outputs": outputs, "codes": codes, "log": "\n".join(logs)}


def installed(python: Path) -> dict[str, str]:
    """{name: version} of every distribution in that interpreter's environment."""
    listing = subprocess.run(
        # -I: neither the current folder (a checkout has signoff.egg-info) nor PYTHONPATH adds to what is installed
        [
            python,
            "-I",
            "-c",
            "import importlib.metadata as m; print(*(f'{d.name}=={d.version}' for d in m.distributions()))",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return dict(pin.lower().split("==") for pin in listing.stdout.split())


def bundled_with_venv() -> dict[str, str]:
    """What `python3 -m venv` itself installs (pip, and setuptools up to Python 3.11): ensurepip's own wheels."""
    wheels = (Path(ensurepip.__file__).parent / "_bundled").glob("*.whl")
    return dict(wheel.name.lower().split("-")[:2] for wheel in wheels)


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory, action, action_checkout, wheelhouse) -> dict:
    """A runner's temp folder after the action's install step ran in it once, and how long that took."""
    temp = tmp_path_factory.mktemp("runner-temp")
    install_only = {**action, "runs": {**action["runs"], "steps": action["runs"]["steps"][:1]}}
    started = time.monotonic()
    result = run_action(install_only, action_checkout, temp, wheelhouse, url="-", token="-", model="-", version="-")
    seconds = time.monotonic() - started
    assert result["codes"] == [0], result["log"]
    return {"path": temp, "seconds": seconds}


def test_the_install_step_puts_the_cli_and_urllib3_alone_in_a_fresh_virtualenv(runner_temp):
    venv = runner_temp["path"] / "signoff-cli"
    python = venv / "bin" / "python"
    everything = installed(python)
    bundled = bundled_with_venv()
    added = set(everything) - set(bundled)
    print(
        f"\nfresh venv + pip install cli/: {runner_temp['seconds']:.1f} s, "
        f"{len(added)} packages installed ({', '.join(sorted(added))})"
    )
    assert added == {"signoff-cli", "urllib3"}
    assert {name: everything[name] for name in bundled} == bundled  # and the venv's own left as they came

    help_text = subprocess.run(
        [venv / "bin" / "signoff", "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "exit codes" in help_text.stdout
    for heavy in ("django", "numpy", "scipy", "sklearn", "plotly", "psycopg"):
        absent = subprocess.run([python, "-I", "-c", f"import {heavy}"], check=False, capture_output=True, timeout=60)
        assert absent.returncode != 0, f"{heavy} is importable in the CLI's virtualenv"


@pytest.fixture
def gate(action, action_checkout, runner_temp, wheelhouse, live_server, users):
    """gate(timeout=...) runs the whole action for calc 2 as a data scientist's CI job would."""

    def run(timeout: str = "10", token: str | None = None) -> dict:
        return run_action(
            action,
            action_checkout,
            runner_temp["path"],
            wheelhouse,
            url=live_server.url,
            token=token or token_for(users["ds"]),
            model="calc",
            version="2",
            timeout=timeout,
        )

    return run


@pytest.mark.parametrize("decision, code", [("approve", 0), ("reject", 1)])
def test_the_action_outputs_the_verdict_and_fails_unless_approved(gate, api, pairwise_campaign, decision, code):
    judge_all(api, pairwise_campaign["id"])
    sign(api, pairwise_campaign["id"], decision)

    result = gate()

    expected = {"approve": "approved", "reject": "rejected"}[decision]
    assert result["outputs"] == {"decision": expected}, result["log"]
    assert result["codes"] == [0, code], result[
        "log"
    ]  # the install step reused the CLI, the gate step passed or failed
    assert f"calc 2: {expected} (stage {expected})" in result["log"]
    assert ("::error title=Signoff gate::calc 2: rejected" in result["log"]) == (decision == "reject")


def test_the_action_times_out_as_pending_and_fails(gate, pairwise_campaign):
    result = gate(timeout="1")
    assert result["outputs"] == {"decision": "pending"}, result["log"]
    assert result["codes"] == [0, 2]
    assert "timed out after 1s: calc 2 is still pending" in result["log"]


def test_the_action_reports_an_error_for_a_bad_token(gate, pairwise_campaign):
    result = gate(token="so_not-a-real-token")
    assert result["outputs"] == {"decision": "error"}, result["log"]
    assert result["codes"] == [0, 3]
    assert "::error title=Signoff gate::calc 2: error (signoff gate wait exited 3)" in result["log"]


# --- the same gate for GitLab CI: the included template's job -----------------------------------------------------

GITLAB_TEMPLATE = ROOT / ".gitlab" / "ci" / "signoff-gate.gitlab-ci.yml"


@pytest.fixture(scope="module")
def gitlab_venv(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gitlab") / "signoff-cli"  # made by the first job that runs


@pytest.fixture
def gitlab_gate(action_checkout, gitlab_venv, wheelhouse, live_server, users, tmp_path):
    """gitlab_gate() runs the template's job script in a checkout of the repository, as GitLab's runner would: its
    lines in one bash session (`-eo pipefail`), the job's variables and the project's CI/CD variables in the env."""
    job = yaml.safe_load(GITLAB_TEMPLATE.read_text())[".signoff-gate"]
    checkout = action_checkout.parent.parent.parent  # the copy holding .github/ and cli/

    def run(timeout: str = "10") -> tuple[int, str, str]:
        env = {
            "PATH": f"{Path(sys.base_prefix) / 'bin'}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheelhouse),
            "PIP_CONFIG_FILE": os.devnull,
            **job["variables"],
            "SIGNOFF_CLI_VENV": str(gitlab_venv),  # the runner's /tmp, one per test module
            "SIGNOFF_URL": live_server.url,
            "SIGNOFF_TOKEN": token_for(users["ds"]),
            "SIGNOFF_MODEL": "calc",
            "SIGNOFF_VERSION": "2",
            "SIGNOFF_TIMEOUT": timeout,
        }
        (checkout / "signoff.env").unlink(missing_ok=True)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(job["script"])],
            cwd=checkout,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        report = checkout / job["artifacts"]["reports"]["dotenv"]
        return done.returncode, report.read_text() if report.exists() else "", done.stdout + done.stderr

    return run


@pytest.mark.parametrize("decision, code", [("approve", 0), ("reject", 1)])
def test_the_gitlab_job_reports_the_decision_and_fails_unless_approved(
    gitlab_gate, api, pairwise_campaign, decision, code
):
    judge_all(api, pairwise_campaign["id"])
    sign(api, pairwise_campaign["id"], decision)

    returncode, report, log = gitlab_gate()

    expected = {"approve": "approved", "reject": "rejected"}[decision]
    assert returncode == code, log
    assert report == f"SIGNOFF_DECISION={expected}\n"
    assert f"Signoff gate: calc 2: {expected}" in log
