"""Names cannot break e-mail (accounts/text.py, accounts/mail.py): every service that takes
a typed name refuses control characters and saves nothing; a legacy name already stored
is flattened in the subject; one message that cannot be sent is logged and the next one
still goes out, and an action that committed never answers 500 because of its e-mail."""

import logging
import re
import smtplib
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.urls import reverse

from accounts.contact import ContactError, contact_request_create
from accounts.mail import mail_send
from accounts.models import ContactRequest, SignUp
from accounts.signup import SignUpError, signup_request
from accounts.text import mail_subject_safe
from audit.models import AuditEntry
from billing.errors import BillingError
from billing.gateways import sandbox
from billing.models import BalanceEntry, CreditEntry, Customer, Subscription
from billing.notifications import invoices_email_issued
from billing.services import instance_billing as ib
from billing.services.customers import (
    customer_create,
    customer_update_account,
    customer_update_by_staff,
)
from billing.services.instances import instance_create, instance_enable
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.subscriptions import subscription_create
from fleet.errors import FleetError
from fleet.models import Instance, Organization
from fleet.services.organizations import organization_create
from tests.billing.instance_helpers import new_instance, package, top_up, utc
from tests.factories import CustomerFactory, PlanFactory

pytestmark = pytest.mark.django_db

# CR, LF, CRLF, NUL, TAB, NEL (a C1 line break) and the Unicode line separator.
BAD = ["Acme\rSAS", "Acme\nSAS", "Acme\r\nBcc: x@evil.example", "Acme\x00SAS", "Acme\tSAS",
       "Acme\x85SAS", "Acme\u2028SAS"]  # fmt: skip
COMPANY = "The company name cannot contain line breaks or control characters."
LEGACY = "Legacy\r\nBcc: victim@evil.example"


def _legacy_name(customer) -> None:
    """A row saved before the rule: written around every check."""
    Customer.objects.filter(pk=customer.pk).update(name=LEGACY)


# ---- the rule ------------------------------------------------------------------------------


def test_the_subject_is_flattened_to_one_line():
    assert mail_subject_safe("A\r\n\tB\x00\x85C\u2028D\u2029") == "A B C D"
    assert mail_subject_safe("Acme  SAS: invoice") == "Acme SAS: invoice"


# ---- every service refuses and saves nothing -------------------------------------------------


@pytest.mark.parametrize("name", BAD)
def test_customer_create_refuses_a_control_character(name):
    with pytest.raises(BillingError, match=re.escape(COMPANY)):
        customer_create(
            name=name,
            contact_email="new@acme.example",
            currency="EUR",
            country="FR",
            address_line1="1 rue",
            postal_code="75001",
            city="Paris",
        )
    assert not Customer.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("name", BAD)
def test_account_update_and_staff_edit_refuse_a_control_character(name):
    customer = CustomerFactory(name="Acme SAS")
    with pytest.raises(BillingError, match=re.escape(COMPANY)):
        customer_update_account(
            customer=customer,
            name=name,
            address_line1="1 rue",
            address_line2="",
            postal_code="75001",
            city="Paris",
            country=customer.country,
            vat_number=customer.vat_number,
            actor="test",
        )
    with pytest.raises(BillingError, match=re.escape(COMPANY)):
        customer_update_by_staff(customer=customer, changes={"name": name}, actor="staff")
    assert Customer.objects.get(pk=customer.pk).name == "Acme SAS"
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("name", BAD)
def test_organization_and_subscription_create_refuse_a_control_character(name):
    customer = CustomerFactory()
    message = "The organization name cannot contain line breaks or control characters."
    with pytest.raises(FleetError, match=re.escape(message)):
        organization_create(name=name, licensed=True, licence_count=1, actor="staff")
    with pytest.raises(BillingError, match=re.escape(message)):
        subscription_create(
            customer=customer,
            organization_name=name,
            plan=PlanFactory(),
            quantity=1,
            start=utc(2026, 1, 1).date(),
            actor="staff",
        )
    assert not Organization.objects.exists() and not Subscription.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("name", BAD)
def test_instance_create_refuses_a_control_character(name):
    customer = CustomerFactory()
    with pytest.raises(BillingError, match="The instance name cannot contain line breaks"):
        instance_create(
            customer=customer,
            name=name,
            package=package("basic", "10"),
            expected_cpe_devices=0,
            actor="test",
        )
    assert not Instance.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("name", BAD)
def test_sign_up_and_contact_refuse_a_control_character(name):
    with pytest.raises(SignUpError, match=re.escape(COMPANY)):
        signup_request(email="new@acme.example", company_name=name, country="FR", client_ip="")
    for fields, message in (
        ({"name": name, "company": "Acme"}, "The name cannot contain"),
        ({"name": "Jeanne", "company": name}, "The company name cannot contain"),
    ):
        with pytest.raises(ContactError, match=message):
            contact_request_create(
                **fields,
                email="jeanne@acme.example",
                message="Hello",
                wants_contract=False,
                client_ip="127.0.0.1",
            )
    assert not SignUp.objects.exists() and not ContactRequest.objects.exists()
    assert mail.outbox == []


# ---- one message failing never stops the others --------------------------------------------


class FailingForOneAddress(LocmemBackend):
    """The mail server refuses one recipient, as a full mailbox or a bad header would."""

    refused = "broken@acme.example"

    def send_messages(self, messages):
        for message in messages:
            if self.refused in message.to:
                raise smtplib.SMTPRecipientsRefused({self.refused: (550, b"no")})
        return super().send_messages(messages)


def _two_customers_with_notices() -> tuple[Customer, Customer]:
    """Billed at 2 March: the first is left with nothing (a low-balance e-mail),
    the second cannot pay its day (its instance disabled, an e-mail)."""
    low = CustomerFactory(name="First SAS")
    top_up(low, "20.00", "low")
    instance_enable(
        instance=new_instance(low, package("p", "10.00")), actor="t", at=utc(2025, 3, 1)
    )
    short = CustomerFactory(name="Second SAS")
    top_up(short, "10.00", "short")
    instance_enable(
        instance=new_instance(short, package("q", "10.00")), actor="t", at=utc(2025, 3, 1)
    )
    return low, short


def _bill_one_chunk(customers, capture) -> None:
    mail.outbox.clear()
    with capture(execute=True):
        result = ib.instance_bill_chunk(customer_ids=[c.pk for c in customers], at=utc(2025, 3, 2))
    assert result.customers == 2 and result.disabled == 1


def test_a_legacy_bad_name_does_not_stop_the_next_customer_s_notice(
    django_capture_on_commit_callbacks,
):
    low, short = _two_customers_with_notices()
    _legacy_name(low)
    _bill_one_chunk([low, short], django_capture_on_commit_callbacks)
    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert subjects == {
        low.email: "Legacy Bcc: victim@evil.example: your balance covers less than 3 days",
        short.email: "Second SAS: 1 instance disabled, your balance is too low",
    }


def test_a_message_the_server_refuses_is_logged_and_the_next_customer_still_gets_its_own(
    django_capture_on_commit_callbacks, settings, caplog
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingForOneAddress"
    low, short = _two_customers_with_notices()
    low.contact.email = FailingForOneAddress.refused
    low.contact.save(update_fields=["email"])
    with caplog.at_level(logging.ERROR, logger="accounts.mail"):
        _bill_one_chunk([low, short], django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert message.to == [short.email]
    assert message.subject == "Second SAS: 1 instance disabled, your balance is too low"
    (record,) = caplog.records
    assert FailingForOneAddress.refused in record.getMessage()
    # The billing itself committed: both customers charged or disabled as the rules say.
    assert Customer.objects.get(pk=low.pk).balance == Decimal("0.00")
    assert not Instance.objects.get(customer=short).enabled


def test_mail_send_reports_a_failure_instead_of_raising(settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.FailingForOneAddress"
    from django.core.mail import EmailMessage

    with caplog.at_level(logging.ERROR, logger="accounts.mail"):
        sent = mail_send(message=EmailMessage("Hi", "Body", to=[FailingForOneAddress.refused]))
    assert sent is False and mail.outbox == []
    assert "e-mail not sent" in caplog.text


# ---- actions that committed answer normally with a legacy name -----------------------------


def test_the_top_up_return_page_answers_with_a_legacy_name(
    client, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    _legacy_name(customer)
    client.force_login(customer.contact)
    started = client.post("/balance/top-up/", {"amount": "25.00"})
    session_id = re.search(r"/sandbox/checkout/([^/]+)/", started["Location"]).group(1)
    sandbox.sandbox_payment_pay(session_id, card_number="4242 4242 4242 4242", exp_month=12,
                                exp_year=2034)  # fmt: skip
    back = sandbox.sandbox_success_url(sandbox.sandbox_session(session_id))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(back, follow=True)
    assert response.status_code == 200
    assert "25.00 EUR is on your balance" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("25.00")
    (message,) = mail.outbox
    assert message.subject == (
        "Legacy Bcc: victim@evil.example: your prepaid balance was topped up by 25.00 EUR"
    )


def test_staff_credit_and_balance_adjustment_answer_with_a_legacy_name(
    staff_client, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    _legacy_name(customer)
    grant = reverse("admin:billing_customer_grant_credit", args=[customer.pk])
    adjust = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        granted = staff_client.post(grant, {"amount": "25.50", "reason": "Outage", "_confirm": "1"})
        preview = staff_client.post(adjust, {"amount": "40.00", "reason": "VIR-1"})
        adjusted = staff_client.post(
            adjust,
            {
                "amount": "40.00",
                "reason": "VIR-1",
                "token": preview.context["preview"]["token"],
                "_confirm": "1",
            },
        )
    assert (granted.status_code, adjusted.status_code) == (302, 302)
    assert CreditEntry.objects.get().amount == Decimal("25.50")
    assert BalanceEntry.objects.get().amount == Decimal("40.00")
    assert sorted(message.subject for message in mail.outbox) == [
        "Legacy Bcc: victim@evil.example: credit of 25.50 EUR added to your account",
        "Legacy Bcc: victim@evil.example: your prepaid balance was topped up by 40.00 EUR",
    ]
    # No header was forged: the "Bcc:" stayed text inside the subject.
    assert all(message.message()["Bcc"] is None for message in mail.outbox)


def test_invoice_e_mails_go_on_after_one_fails(
    settings, django_capture_on_commit_callbacks, caplog
):
    """invoices_email_issued (the renewals' e-mails): one refused, the next still sent."""
    settings.EMAIL_BACKEND = f"{__name__}.FailingForOneAddress"
    invoices = []
    for name in ("First SAS", "Second SAS"):
        customer = CustomerFactory(name=name)
        draft = invoice_create_draft(customer=customer)
        invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
        invoices.append(invoice_finalize(invoice=draft, actor=None))
    first = invoices[0].customer.contact
    first.email = FailingForOneAddress.refused
    first.save(update_fields=["email"])
    mail.outbox.clear()
    with (
        caplog.at_level(logging.ERROR, logger="accounts.mail"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        invoices_email_issued(invoice_ids=[invoice.pk for invoice in invoices])
    (message,) = mail.outbox
    assert message.to == [invoices[1].customer.email]
    assert message.subject == f"Second SAS: invoice {invoices[1].number} issued"
    assert "e-mail not sent" in caplog.text
