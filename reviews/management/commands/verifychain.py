"""`python manage.py verifychain`: walk the verdict hash chain now, record the check, exit 1 if it is broken."""

import json

from django.core.management.base import BaseCommand, CommandError

from reviews.models import ChainCheck
from reviews.services.chain import verdict_chain_report


class Command(BaseCommand):
    help = (
        "Check the verdict hash chain (each verdict's hash, the links, and the anchors: the last passing check "
        "and the webhook outbox) and record the check. Prints ok, count, head, broken_at and reason as JSON; "
        "exits 0 when the chain holds, 1 when it is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--head", help="with --count: a head seen before, which must still be at that position")
        parser.add_argument("--count", type=int, help="with --head: how many verdicts the chain had then")

    def handle(self, *args, head, count, **options):
        if (head is None) != (count is None):
            raise CommandError("Give --head and --count together.")
        summary = verdict_chain_report(trigger=ChainCheck.Trigger.DEMAND, head=head, count=count)
        self.stdout.write(json.dumps(summary, indent=2))
        if not summary["ok"]:
            raise SystemExit(1)  # not CommandError: the summary above already says what is wrong
