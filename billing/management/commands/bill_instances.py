"""Staff: bill the cloud instances for a run now, in this process (no worker needed), or
check a billed day."""

from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.services.instance_billing import (
    instance_billing_check,
    instance_billing_run,
    run_at,
)


class Command(BaseCommand):
    help = "Bill every enabled cloud instance due for the run at 00:00 UTC, then check it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            type=datetime.fromisoformat,
            help="The run, an ISO time at 00:00 UTC, e.g. 2026-03-06T00:00:00+00:00 "
            "(default: today's). A run to come is refused.",
        )
        parser.add_argument(
            "--check",
            type=date.fromisoformat,
            metavar="DATE",
            help="Only check that billed day (YYYY-MM-DD): every enabled instance charged "
            "once. Exits non-zero on a problem.",
        )

    def handle(self, *args, **options):
        if options["check"]:
            self._check(options["check"])
            return
        at = options["at"] or run_at(timezone.now().date())
        if at.tzinfo is None:
            raise CommandError("Give --at with its UTC offset, e.g. 2026-03-06T00:00:00+00:00")
        try:
            result = instance_billing_run(at=at, actor="bill_instances command")
        except BillingError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"customers={result.customers} billed={result.billed} disabled={result.disabled} "
            f"charged={result.charged}"
        )
        self._check(at.date())

    def _check(self, day: date) -> None:
        check = instance_billing_check(day=day)
        self.stdout.write(
            f"check {day:%Y-%m-%d}: enabled={check.enabled} charges={check.charges} "
            f"unbilled={len(check.unbilled)} charged_twice={len(check.twice)}"
        )
        for pk in check.unbilled[:100]:
            self.stdout.write(f"instance {pk}: enabled, no charge for {day:%Y-%m-%d}")
        for pk, n in check.twice[:100]:
            self.stdout.write(f"instance {pk}: charged {n} times for {day:%Y-%m-%d}")
        if not check.ok:
            raise CommandError("The billed day does not check out")
