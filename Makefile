# Two commands on a fresh machine: `make run` (the app with a demo, on SQLite) and `make test`.
# Everything is installed from the locks in requirements/ (exact versions, hashes required); see README, "Dependencies".
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Into .venv whatever VIRTUAL_ENV says. Files are hard-linked from uv's cache (copied where it is on another disk).
UV_INSTALL := $(UV) pip install --quiet --python $(BIN)/python
# The MLflow test server's venv, apart from the app's (requirements/mlflow.in says why), filled by .venv's uv alike.
MLFLOW_VENV := .venv-mlflow
UV_INSTALL_MLFLOW := $(UV) pip install --quiet --python $(MLFLOW_VENV)/bin/python
# signoff-cli is ours, in cli/ ([tool.uv.sources]): resolved from there and left out of the locks, never from PyPI.
UV_COMPILE := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
	--no-emit-package signoff-cli --custom-compile-command "make lock"
# One BLAS thread per process: on a busy 2-core machine OpenBLAS's spinning threads made the demo's training 10x slower.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install run test lint lock chromium schema clean

# The venv grows by layers, each a marker file: runtime (make run), + tests (make test), + dev tools (make lint).
# uv itself comes from PyPI through pip, pinned with hashes like everything else. The venv is made without pip
# (ensurepip took longer than installing every runtime package with uv): the interpreter's own pip installs uv into
# it, or, where the interpreter has no pip (22.3+), the venv gets one from ensurepip. The test lock brings pip back.
PIP_UV := install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
$(VENV)/.uv: requirements/uv.txt
	$(PYTHON) -m venv --without-pip $(VENV)
	if $(PYTHON) -m pip --python $(BIN)/python --version >/dev/null 2>&1; then \
		$(PYTHON) -m pip --python $(BIN)/python $(PIP_UV); \
	else \
		$(BIN)/python -m ensurepip --default-pip >/dev/null && $(BIN)/python -m pip $(PIP_UV); \
	fi
	touch $@

# --compile-bytecode: processes load compiled modules, as from an image built with pip, rather than compiling every
# import at each start (slower, and ~15 MB more per process where bytecode cannot be written).
# The CLI (cli/, its own distribution) from its folder, then the server: both editable, without dependencies (the lock
# brought those), so neither name is ever looked up on PyPI.
$(VENV)/.runtime: $(VENV)/.uv requirements/runtime.txt pyproject.toml cli/pyproject.toml
	$(UV_INSTALL) --compile-bytecode --require-hashes -r requirements/runtime.txt
	$(UV_INSTALL) --no-deps -e ./cli -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements/test.txt
	$(UV_INSTALL) --require-hashes -r requirements/test.txt
	touch $@

$(VENV)/.dev: $(VENV)/.test requirements/dev.txt
	$(UV_INSTALL) --require-hashes -r requirements/dev.txt
	touch $@

# --clear: a lock that dropped a package leaves nothing stale behind; from a warm uv cache the refill takes seconds.
$(MLFLOW_VENV)/.ready: $(VENV)/.uv requirements/mlflow.txt
	$(PYTHON) -m venv --without-pip --clear $(MLFLOW_VENV)
	$(UV_INSTALL_MLFLOW) --require-hashes -r requirements/mlflow.txt
	touch $@

# Everything a developer (and CI) needs: the app, its tests and the lint tools.
install: $(VENV)/.dev

# Real-browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# One Django process migrates and loads the demo: each start imports Django, DRF, Celery and numpy again.
run: $(VENV)/.runtime
	$(BIN)/python manage.py demo --migrate
	PORT=$(PORT) $(BIN)/python bin/serve-embedded

# tests/test_mlflow.py runs .venv-mlflow's `mlflow server`, so the suite builds that venv too, like Chromium.
test: $(VENV)/.test $(MLFLOW_VENV)/.ready chromium
	$(BIN)/pytest

# The same checks as the pre-commit hooks; the configuration of each is in pyproject.toml.
APP_PACKAGES := config core datasets models_app reviews webhooks notifications integrations inspections cli/signoff_cli bin
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	for script in bin/*; do $(BIN)/mypy "$$script" || exit 1; done  # one at a time: each is a __main__
	$(BIN)/python bin/check-complexity --max 15 $(APP_PACKAGES)

# Re-resolve the locks after a change to pyproject.toml's dependencies. Pins that still fit are kept;
# `make lock UPGRADE=1` moves every pin to the newest release the ranges allow. dev.txt is resolved first and
# the other locks within it, so one package has one version in all of them. Run the suite before committing.
# mlflow.txt (the MLflow test server's venv) is resolved on its own, not within dev.txt: its caps stay out of the app's.
lock: $(VENV)/.uv
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) pyproject.toml --extra test --extra dev -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml --extra test -c requirements/dev.txt -o requirements/test.txt
	$(UV_COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/uv.in -o requirements/uv.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/mlflow.in -o requirements/mlflow.txt

schema: $(VENV)/.runtime
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/openapi.yml

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) var/test-* var/broker
