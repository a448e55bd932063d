"""billing/services/ownership.py: the one comparison of the gateway's owner with the
customer, and every service path that uses it. Here the local Payment row itself points at
another customer's session, order or charge (as a bug or a tampered row would): the
gateway's owner is then the only lock left, and it refuses with nothing changed. The
checkout.session.completed webhook naming one customer's payment for another's session is
ignored. Sandbox and Stripe (real SDK, fake server); PayPal on the sandbox and its fake."""

import pytest
from django.core import mail

from billing.errors import BillingError
from billing.gateways import interface as gw
from billing.models import Payment, WebhookEvent
from billing.services.ownership import NOT_YOURS_CODE, hosted_owner_matches
from billing.services.payments import payment_hosted_finish, payment_refresh
from billing.services.paypal_payments import payment_paypal_capture
from billing.services.top_ups import top_up_finish
from tests.billing.payment_helpers import post_stripe, stripe_event
from tests.factories import CustomerFactory
from tests.ownership_helpers import (
    NOT_YOURS,
    hosted_payment,
    paypal_payment,
    snapshot,
    three_d_secure_payment,
    top_up_payment,
)
from tests.portal.test_payment_pages import open_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna():
    return CustomerFactory(name="Anna SAS")


@pytest.fixture
def bruno():
    return CustomerFactory(name="Bruno SARL")


def point_at(payment: Payment, other: Payment) -> tuple[Payment, str]:
    """`payment`'s row made to hold `other`'s gateway id (a gateway id is unique per
    gateway in the database, so `other`'s row gives it up first). Returns the id."""
    ref = other.gateway_ref
    Payment.objects.filter(pk=other.pk).update(gateway_ref=f"{ref}-elsewhere")
    Payment.objects.filter(pk=payment.pk).update(gateway_ref=ref)
    payment.refresh_from_db()
    return payment, ref


def refused_with_nothing_changed(call, capture) -> None:
    before = snapshot()
    mail.outbox = []
    with capture(execute=True), pytest.raises(BillingError) as refused:
        call()
    assert refused.value.code == NOT_YOURS_CODE
    assert refused.value.message.startswith(NOT_YOURS)
    assert snapshot() == before
    assert mail.outbox == []


# ---- the comparison ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "reference", "matches"),
    [
        (gw.SessionOwner(customer_id="1"), "", True),
        (gw.SessionOwner(customer_id="2"), "", False),
        (gw.SessionOwner(gateway_customer_ref="cus_a"), "", True),
        (gw.SessionOwner(gateway_customer_ref="cus_b"), "", False),
        (gw.SessionOwner(customer_id="1", gateway_customer_ref="cus_b"), "", False),
        (gw.SessionOwner(reference="CAJ-1"), "CAJ-1", True),
        (gw.SessionOwner(reference="CAJ-2"), "CAJ-1", False),
        (gw.SessionOwner(customer_id="1", reference="CAJ-2"), "CAJ-1", False),
        (gw.SessionOwner(reference="CAJ-1"), "", False),  # no evidence: fail closed
        (gw.SessionOwner(), "", False),
        (None, "", False),
    ],
)
def test_the_owner_must_match_on_something_and_contradict_nothing(owner, reference, matches):
    customer = CustomerFactory.build(pk=1, gateway_customer_ref="cus_a")
    assert hosted_owner_matches(customer=customer, owner=owner, reference=reference) is matches


def test_a_gateway_ref_is_no_evidence_before_we_stored_one():
    customer = CustomerFactory.build(pk=1, gateway_customer_ref="")
    owner = gw.SessionOwner(gateway_customer_ref="cus_a")
    assert not hosted_owner_matches(customer=customer, owner=owner)
    owner = gw.SessionOwner(customer_id="1", gateway_customer_ref="cus_a")
    assert hosted_owner_matches(customer=customer, owner=owner)


# ---- each path, with the local row pointing at another customer's id -----------------------


def test_hosted_invoice_payment_refuses_a_foreign_session(
    anna, bruno, card_fake, django_capture_on_commit_callbacks
):
    a_payment = hosted_payment(open_invoice(anna), fake_stripe=card_fake)
    b_payment = hosted_payment(open_invoice(bruno), fake_stripe=card_fake, pay=False)
    b_payment, ref = point_at(b_payment, a_payment)
    refused_with_nothing_changed(
        lambda: payment_hosted_finish(customer=bruno, session_id=ref, actor=None),
        django_capture_on_commit_callbacks,
    )


def test_top_up_refuses_a_foreign_session(
    anna, bruno, card_fake, django_capture_on_commit_callbacks
):
    a_payment = top_up_payment(anna, fake_stripe=card_fake)
    b_payment, _ = point_at(top_up_payment(bruno, fake_stripe=card_fake, pay=False), a_payment)
    bruno.refresh_from_db()
    refused_with_nothing_changed(
        lambda: top_up_finish(customer=bruno, payment_id=b_payment.pk, actor=None),
        django_capture_on_commit_callbacks,
    )


def test_three_d_secure_refresh_refuses_a_foreign_charge(
    anna, bruno, card_fake, django_capture_on_commit_callbacks
):
    a_payment = three_d_secure_payment(open_invoice(anna), fake_stripe=card_fake)
    b_payment = three_d_secure_payment(
        open_invoice(bruno), fake_stripe=card_fake, authenticate=False
    )
    b_payment, _ = point_at(b_payment, a_payment)
    refused_with_nothing_changed(
        lambda: payment_refresh(payment=b_payment, actor=None),
        django_capture_on_commit_callbacks,
    )


def test_paypal_capture_refuses_an_order_for_another_invoice(
    anna, bruno, paypal_fake, django_capture_on_commit_callbacks
):
    a_payment = paypal_payment(open_invoice(anna), fake_paypal=paypal_fake)
    b_payment = paypal_payment(open_invoice(bruno), fake_paypal=paypal_fake, approve=False)
    b_payment, ref = point_at(b_payment, a_payment)
    refused_with_nothing_changed(
        lambda: payment_paypal_capture(customer=bruno, order_id=ref, actor=None),
        django_capture_on_commit_callbacks,
    )


def test_checkout_webhook_ignores_a_session_of_another_customer(
    client, anna, bruno, fake_stripe, django_capture_on_commit_callbacks
):
    """A completed session of A's, with metadata naming B's payment: ignored."""
    a_payment = hosted_payment(open_invoice(anna), fake_stripe=fake_stripe)
    b_payment = hosted_payment(open_invoice(bruno), fake_stripe=fake_stripe, pay=False)
    session = {
        "id": a_payment.gateway_ref,
        "object": "checkout.session",
        "mode": "payment",
        "metadata": {"payment": str(b_payment.pk)},
    }
    before = snapshot()
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        response = post_stripe(client, stripe_event("checkout.session.completed", session))
    assert response.status_code == 200
    assert snapshot() == before
    assert mail.outbox == []
    assert WebhookEvent.objects.get().outcome.startswith("ignored: session is not payment")
