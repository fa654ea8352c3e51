"""`python manage.py demo`: load the handwritten-digits demo once (users, dataset, three model versions, one campaign of
each kind and a diff-first one, the production version's logs and their inspection)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from reviews.services.demo import demo_load


class Command(BaseCommand):
    help = (
        "Load the demo: scikit-learn's handwritten digits, three classifiers trained on the spot, a pairwise, ranking, "
        "rating and labeling campaign, a diff-first pairwise campaign, three weeks of production logs with a judged "
        "inspection, and demo users. Does nothing when the dataset 'digits' already exists."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="Apply the migrations first, in this process (`make run`: one start of Django and its imports, not two).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["migrate"]:
            # migrate gets the stream itself: wrapped in this command's OutputWrapper as well, every "Applying X..."
            # would end its line before its "OK"
            call_command("migrate", interactive=False, verbosity=options["verbosity"], stdout=self.stdout._out)
        try:
            demo_load(stdout=self.stdout)
        except ApplicationError as exc:
            raise CommandError(f"The demo could not be loaded, and nothing was kept: {exc.message}") from exc
