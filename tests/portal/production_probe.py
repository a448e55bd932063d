"""Run as a separate process under the PRODUCTION settings (tests/portal/
test_production_payments.py starts it): a stranger's-eye probe of what can be paid with.
It migrates a fresh SQLite database given in DATABASE_URL, makes a customer with an open
invoice and a card saved by the sandbox (as a database restored from a demo would hold),
then tries every way to start a payment through the pages and the collection, and prints
one JSON object of what it saw. The test asserts on it."""

import html
import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.production")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# The one departure from production: static files from the source folders, as the tests
# do, instead of the manifest `collectstatic` writes (nothing here is about static files).
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402


def _said(page: str) -> list[str]:
    """The messages and errors the page shows a person (text only)."""
    said = re.findall(r'<li class="message[^"]*"[^>]*>(.*?)</li>', page, flags=re.S)
    said += re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', page, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", " ", text)).strip() for text in said]


def main() -> None:
    call_command("migrate", verbosity=0)
    from accounts.services import staff_user_create
    from billing.models import Payment, PaymentMethod, SandboxRecord
    from billing.services.collection import collection_attempt
    from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
    from tests.factories import SubscriptionFactory

    subscription = SubscriptionFactory(organization_name="Probe Org")
    customer = subscription.customer
    draft = invoice_create_draft(customer=customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=timezone.now().date())
    # A card the sandbox saved (a database restored from a demo): never charged here.
    PaymentMethod.objects.create(
        customer=customer, kind="card", gateway="sandbox", gateway_ref="sb_pm_x", brand="visa",
        last4="4242", exp_month=12, exp_year=2030, funding="credit", is_default=True,
    )  # fmt: skip
    device = staff_user_create(email="ops@probe.example", password="probe-Pass-2026")

    client = Client()
    client.force_login(customer.contact)
    seen: dict = {}
    try:
        reverse("sandbox:checkout", args=["x"])
        seen["sandbox_url_routed"] = True
    except NoReverseMatch:
        seen["sandbox_url_routed"] = False
    seen["sandbox_pages"] = [
        client.get(path).status_code
        for path in (
            "/sandbox/checkout/sb_cs_x/",
            "/sandbox/paypal/SBX/",
            "/sandbox/authenticate/x/",
        )
    ]
    page = client.get("/payment-method/").content.decode()
    seen["method_page"] = {
        "add_card": "Add a card" in page,
        "add_sepa": "Add a SEPA direct debit" in page,
        "connect_paypal": "Choose PayPal" in page,
        "bank_transfer": "Choose bank transfer" in page,
    }
    pay = client.get(f"/invoices/{invoice.number}/pay/").content.decode()
    seen["pay_page"] = {
        "saved_card": "data-pay-method=" in pay,
        "new_card": "Pay with a new card" in pay,
        "paypal": "Pay with PayPal" in pay,
        "bank_transfer": "data-bank-transfer" in pay,
    }
    balance = client.get("/balance/").content.decode()
    seen["balance_page"] = {
        "top_up_form": "Pay by card" in balance,
        "unavailable_said": "data-top-up-unavailable" in balance,
    }
    answers = {
        "add_card": client.post("/payment-method/add/", {"kind": "card"}, follow=True),
        "add_sepa": client.post("/payment-method/add/", {"kind": "sepa_debit"}, follow=True),
        "add_paypal": client.post("/payment-method/offline/", {"kind": "paypal"}, follow=True),
        "pay_new_card": client.post(
            f"/invoices/{invoice.number}/pay/", {"how": "new_card"}, follow=True
        ),
        "pay_paypal": client.post(
            f"/invoices/{invoice.number}/pay/", {"how": "paypal"}, follow=True
        ),
        "pay_saved_card": client.post(
            f"/invoices/{invoice.number}/pay/",
            {"how": "saved", "method": PaymentMethod.objects.get(gateway_ref="sb_pm_x").pk},
            follow=True,
        ),
        "top_up": client.post("/balance/top-up/", {"amount": "25.00"}, follow=True),
        "setup_return": client.get("/payment-method/added/?session_id=sb_cs_x", follow=True),
        "top_up_return": client.get("/balance/top-up/return/?payment=1", follow=True),
    }
    seen["answers"] = {
        name: {"status": response.status_code, "says": _said(response.content.decode())}
        for name, response in answers.items()
    }
    seen["collection"] = str(collection_attempt(invoice_id=invoice.pk, today=invoice.issued_on))
    seen["payments"] = sorted(Payment.objects.values_list("method_kind", "gateway"))
    seen["methods"] = sorted(PaymentMethod.objects.values_list("kind", "gateway"))
    seen["sandbox_records"] = SandboxRecord.objects.count()
    invoice.refresh_from_db()
    seen["invoice"] = [invoice.status, str(invoice.amount_due.amount)]
    customer.refresh_from_db()
    seen["balance"] = str(customer.balance)

    from tests.staff import totp_token

    staff = Client()
    login = {"email": "ops@probe.example", "password": "probe-Pass-2026"}
    staff.post("/admin/login/", {**login, "code": totp_token(device)})
    admin = staff.get("/admin/").content.decode()
    seen["admin_says"] = [
        html.unescape(re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li data-kind-offered=[^>]*>(.*?)</li>", admin, flags=re.S)
    ]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
