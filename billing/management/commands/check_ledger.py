"""Staff: prove that every customer's cached balance equals the sum of its ledger."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.balance import ledger_check


class Command(BaseCommand):
    help = "Check Customer.balance == sum of BalanceEntry for every customer."

    def handle(self, *args, **options):
        result = ledger_check()
        self.stdout.write(
            f"customers={result.customers} entries={result.entries} "
            f"mismatches={len(result.mismatches)}"
        )
        for pk, cached, total in result.mismatches[:100]:
            self.stdout.write(f"customer {pk}: balance {cached} != ledger sum {total}")
        if result.mismatches:
            raise CommandError(f"{len(result.mismatches)} customer(s) with a balance mismatch")
