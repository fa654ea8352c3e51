"""Heavy libraries load when first used, not when a web or worker process starts (core/lazy.py): a fresh process
that loads the WSGI application and the URLconf, or the Celery app with every task module, has imported none of them.
Each check runs in a new interpreter, as a process starts, on production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Fresh processes with their own never-connected DATABASE_URL and broker: the same whatever this run uses.
pytestmark = pytest.mark.db_agnostic

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "plotly", "pandas", "PIL", "cryptography")

STARTS = {
    "web": "import config.wsgi\nfrom django.urls import get_resolver\nget_resolver().url_patterns",
    "worker": "from config.celery import app\nimport django\ndjango.setup()\napp.loader.import_default_modules()\n"
    "assert 'reviews.tasks.campaign_gate_check_task' in app.tasks",
}


def run_after(code: str) -> str:
    """What `code` prints, run in a new interpreter on production settings (nothing connects at import)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "import-cost-test",
        "ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/never-connected",  # nothing connects at import
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def loaded_after(start: str) -> list[str]:
    return run_after(f"{start}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))").split()


@pytest.mark.parametrize("process", sorted(STARTS))
def test_a_starting_process_imports_no_heavy_library(process):
    loaded = loaded_after(STARTS[process])
    assert "django" in loaded and "rest_framework" in loaded  # the check sees what the start imported
    # a web process loads the broker's client at its start (core.queue.publishing_prepare: under --preload the
    # workers share it, and a judgment no longer waits for it), and redis-py imports cryptography whatever the use
    broker_client = set(loaded_after("import kombu.transport.redis")) if process == "web" else set()
    assert "redis" in loaded if process == "web" else True
    assert [name for name in HEAVY if name in loaded and name not in broker_client] == []


def test_a_heavy_library_loads_at_its_first_use():
    loaded = loaded_after(STARTS["worker"] + "\nfrom reviews.stats import proportions\nproportions.np.zeros(1)")
    assert "numpy" in loaded


def test_the_worker_and_beat_entry_leaves_out_the_rest_of_celerys_command_line():
    # config.background runs Celery's worker and beat commands; `celery`'s own entry also loads every other
    # subcommand, amqp's interactive shell (click-repl, prompt_toolkit) among them, for the life of the process
    loaded = loaded_after("import config.background\nimport django\ndjango.setup()")
    assert "celery" in loaded and "django" in loaded
    assert "click_repl" not in loaded and "prompt_toolkit" not in loaded
    assert "click_repl" in loaded_after("import celery.bin.celery")  # the check would see it


def test_the_web_process_keeps_what_it_imported_out_of_the_garbage_collectors_walk():
    # config.wsgi freezes what the start created (gc.freeze): a full collection then walks only what requests make
    frozen = run_after("import config.wsgi\nimport gc\nprint(gc.get_freeze_count(), len(gc.get_objects()))").split()
    assert int(frozen[0]) > 50_000 > int(frozen[1])


def test_a_web_process_has_loaded_celerys_publishing_before_its_first_message():
    # the first judgment's gate check sends a message: without core.queue.publishing_prepare at the start, that
    # request imported ~95 modules (~190 ms) first
    code = (
        "import config.wsgi, sys\nbefore = set(sys.modules)\nfrom core.queue import task_enqueue\n"
        "task_enqueue('reviews.tasks.campaign_gate_check_task', args=[1])\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    loaded = run_after(
        code.replace(
            "import config.wsgi", "import os\nos.environ['CELERY_BROKER_URL'] = 'memory://'\nimport config.wsgi"
        )
    )
    assert len(loaded.split()) <= 3, loaded
