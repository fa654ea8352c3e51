"""Start the Celery worker or beat without the rest of Celery's command line.

    python -m config.background worker --loglevel=INFO --concurrency=4
    python -m config.background beat --loglevel=INFO --schedule /tmp/celerybeat-schedule

The same options as `celery -A config worker` / `celery -A config beat`: this runs Celery's own `worker` and `beat`
commands on this project's app. `celery`'s command line imports every subcommand at start, `amqp`'s interactive
shell (click-repl, prompt_toolkit) among them: about 8 MB in every long-running worker and beat process, which keep
it for their life (figures: docs/bench-next-task.md, idle memory). One-off commands (`celery -A config inspect
ping`) keep using `celery`.
"""

import sys

from celery.bin.base import CLIContext
from celery.bin.beat import beat
from celery.bin.worker import worker

from config.celery import app

COMMANDS = {"worker": worker, "beat": beat}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        sys.exit(f"usage: python -m config.background {{{' | '.join(COMMANDS)}}} [celery options]")
    name, options = argv[0], argv[1:]
    context = CLIContext(app=app, no_color=None, workdir=None)
    COMMANDS[name].main(args=options, prog_name=f"python -m config.background {name}", obj=context)


if __name__ == "__main__":
    main(sys.argv[1:])
