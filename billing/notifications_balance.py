"""E-mails about the prepaid balance and cloud instances (billing/notifications.py's
pattern: text + HTML templates in templates/billing/emails/, sent on commit)."""

from datetime import date
from decimal import Decimal

from billing.emails import customer_email_send
from billing.models import BalanceEntry, Customer, Payment
from billing.money import money_format
from fleet.models import Instance


def notify_instance_notices(*, notice: dict) -> None:
    """One e-mail per customer and run: the instances disabled (balance too low), and/or
    the low-balance warning."""
    customer = Customer.objects.select_related("contact").get(pk=notice["customer_id"])
    balance = Decimal(notice["balance"])
    day = date.fromisoformat(notice["day"])
    context = {
        "balance": balance,
        "daily_spend": Decimal(notice["daily_spend"]),
        "day": day,
        "currency": "EUR",
    }
    if notice["disabled"]:
        instances = list(Instance.objects.filter(pk__in=notice["disabled"]).order_by("name"))
        customer_email_send(
            customer=customer,
            subject=(
                f"{customer.name}: {len(instances)} instance"
                f"{'' if len(instances) == 1 else 's'} disabled, your balance is too low"
            ),
            template="instances_disabled",
            context={**context, "instances": instances},
        )
    if notice["low_balance_days"] is not None:
        customer_email_send(
            customer=customer,
            subject=(
                f"{customer.name}: your balance covers less than {notice['low_balance_days']} days"
            ),
            template="balance_low",
            context={**context, "days": notice["low_balance_days"]},
        )


def notify_auto_top_up_failed(*, customer: Customer, payment: Payment) -> None:
    customer_email_send(
        customer=customer,
        subject=(
            f"{customer.name}: the automatic top-up of "
            f"{money_format(payment.amount, payment.currency)} failed"
        ),
        template="auto_top_up_failed",
        context={"payment": payment},
    )


def notify_balance_changed(*, entry: BalanceEntry) -> None:
    """Money added to the balance (a top-up) or a staff adjustment: what, and the balance."""
    customer = Customer.objects.select_related("contact").get(pk=entry.customer_id)
    what = "topped up" if entry.amount > 0 else "adjusted"
    customer_email_send(
        customer=customer,
        subject=(
            f"{customer.name}: your prepaid balance was {what} by "
            f"{money_format(entry.amount, 'EUR')}"
        ),
        template="balance_changed",
        context={"entry": entry, "currency": "EUR"},
    )
