# Two commands on a fresh machine: `make run` (the app with a demo, on SQLite) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test chromium schema clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Real-browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	PORT=$(PORT) $(BIN)/python bin/serve-embedded

test: install chromium
	$(BIN)/pytest

schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/openapi.yml

clean:
	rm -rf $(VENV) var/test-* var/broker
