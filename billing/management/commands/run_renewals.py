"""Staff: renew every due subscription now, in this process (no worker needed)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.errors import BillingError
from billing.services.renewals import renewals_run


class Command(BaseCommand):
    help = "Renew the active subscriptions whose period has ended, and issue their invoices."

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            type=date.fromisoformat,
            help="Renew the periods ended on or before this day, YYYY-MM-DD (default: today, "
            "UTC). A day to come is refused. Invoices are dated the day the command runs, "
            "so numbers stay in the order of issue.",
        )

    def handle(self, *args, **options):
        today = options["date"] or timezone.now().date()
        try:
            result = renewals_run(today=today, actor="run_renewals command")
        except BillingError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"Renewed {result.subscriptions} subscription(s), issued {result.invoices} "
            f"invoice(s) for periods ended by {today:%Y-%m-%d}."
        )
