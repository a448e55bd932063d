"""Self sign-up for the cloud platform: an address and a company name, then an e-mailed
single-use link that opens the account (a customer with a zero balance).

No enumeration: `signup_request` gives the caller nothing back, whatever the address. A
new or pending address gets a fresh link (a pending sign-up's old link stops working); an
address that already has an account gets a "you already have an account: log in" e-mail;
any other address (staff, a former contact) gets nothing. Only a SHA-256 of the token is
stored. Rate limits count per address and per client IP (accounts.throttle), whatever
the address.

The customer is created with what the form asks (address, company name, country: it
decides the VAT) and currency SIGNUP_CURRENCY; the postal address is left blank, for the
customer to fill in on "Account Information" (customer_update_account requires it there).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from math import ceil

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.mail import mail_send_on_commit
from accounts.models import SignUp, User
from accounts.text import text_refusal
from accounts.throttle import throttle_count, throttle_key
from audit.services import audit_record
from billing.errors import BillingError
from billing.models import Customer
from billing.services.customers import customer_create


class SignUpError(Exception):
    """A refused step; `message` says what happened and what to do."""

    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.message = message
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class LinkProblem:
    """Why a link does not open an account: "expired", "used" or "unknown" (never issued,
    or replaced by a newer link). `email` and `company_name` prefill the form for a new
    link when the sign-up is still stored."""

    reason: str
    email: str = ""
    company_name: str = ""
    country: str = ""


def signup_normalize_email(*, email: str) -> str:
    return (email or "").strip().lower()


def signup_link_validity_hours() -> int:
    return ceil(settings.SIGNUP_LINK_VALIDITY / 3600)


def signup_token_hash(*, token: str) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


def signup_request(*, email: str, company_name: str, country: str, client_ip: str) -> None:
    """Sends the e-mail this address gets (see the module docstring). Returns nothing, the
    same for every address; raises SignUpError only for the rate limits and a company
    name with a line break or control character (the same for every address)."""
    # Refused, not flattened: the name becomes the customer's, in every e-mail subject.
    refusal = text_refusal(value=company_name, label="company name")
    if refusal:
        raise SignUpError(refusal)
    email = signup_normalize_email(email=email)
    company_name = " ".join((company_name or "").split())
    country = (country or settings.SIGNUP_DEFAULT_COUNTRY).upper()
    _rate_limit_hit(
        kind="ip",
        subject=client_ip,
        limit=settings.SIGNUP_REQUESTS_PER_IP,
        message="Too many sign-ups were asked for from your network. Wait an hour and try "
        "again, or use the Contact Us form.",
    )
    _rate_limit_hit(
        kind="address",
        subject=email,
        limit=settings.SIGNUP_REQUESTS_PER_ADDRESS,
        message="Too many sign-up e-mails were asked for this address. Wait an hour and "
        "try again; the last link we sent still works.",
    )
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        customer = Customer.objects.filter(contact=existing).first()
        if customer is not None and existing.is_active and not existing.is_staff:
            _send(
                to=email,
                subject="You already have a CAJ billing portal account",
                template="signup_existing_account",
                context={"login_url": _absolute(reverse("portal:login"))},
            )
        return
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    values = {
        "company_name": company_name,
        "country": country,
        "token_hash": signup_token_hash(token=token),
        "created_at": now,
        "expires_at": now + timedelta(seconds=settings.SIGNUP_LINK_VALIDITY),
        "confirmed_at": None,
    }
    try:
        with transaction.atomic():
            SignUp.objects.update_or_create(email=email, defaults=values)
    except IntegrityError:
        # Two requests for a new address at once: the other made the row; replace its token.
        with transaction.atomic():
            SignUp.objects.filter(email=email).update(**values)
    _send(
        to=email,
        subject="Confirm your CAJ billing portal account",
        template="signup_link",
        context={
            "confirm_url": _absolute(reverse("portal:signup_confirm") + f"?token={token}"),
            "company_name": company_name,
            "validity_hours": signup_link_validity_hours(),
        },
    )


def signup_check(*, token: str) -> LinkProblem | None:
    """None if the link opens an account now; otherwise why not (nothing is changed)."""
    found = SignUp.objects.filter(token_hash=signup_token_hash(token=token)).first()
    return _problem(found)


@transaction.atomic
def signup_confirm(*, token: str) -> Customer | LinkProblem:
    """Opens the account: the customer (a zero balance) and its billing contact, once.
    Returns the customer, whose `contact` the caller logs in, or why the link does not
    work."""
    found = (
        SignUp.objects.select_for_update().filter(token_hash=signup_token_hash(token=token)).first()
    )
    problem = _problem(found)
    if problem is not None:
        return problem
    try:
        with transaction.atomic():
            customer = customer_create(
                name=found.company_name,
                contact_email=found.email,
                currency=settings.SIGNUP_CURRENCY,
                country=found.country,
                address_line1="",
                postal_code="",
                city="",
                actor="self-sign-up",
            )
    except BillingError:
        # The address got an account meanwhile (staff made it): that one is the account.
        found.confirmed_at = timezone.now()
        found.save(update_fields=["confirmed_at"])
        return LinkProblem(reason="used", email=found.email)
    found.confirmed_at = timezone.now()
    found.save(update_fields=["confirmed_at"])
    audit_record(
        actor=customer.contact,
        action="signup.confirm",
        target=customer,
        after={"email": found.email, "company": found.company_name, "country": found.country},
    )
    return customer


def signup_cleanup(*, now=None) -> int:
    """Deletes the sign-ups past their expiry (opened or not); returns how many."""
    deleted, _ = SignUp.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def _problem(found: SignUp | None) -> LinkProblem | None:
    if found is None:
        return LinkProblem(reason="unknown")
    if found.confirmed_at is not None:
        return LinkProblem(reason="used", email=found.email)
    if timezone.now() >= found.expires_at:
        return LinkProblem(
            reason="expired",
            email=found.email,
            company_name=found.company_name,
            country=found.country,
        )
    return None


def _absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def _send(*, to: str, subject: str, template: str, context: dict) -> None:
    """A plain-text and an HTML part from templates/portal/emails/<template>.*, sent when
    the transaction commits (at once outside one)."""
    context = {"email": to, **context}
    text = render_to_string(f"portal/emails/{template}.txt", context)
    html = render_to_string(f"portal/emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    # A mail server that fails is logged (accounts.mail), never a 500 that would tell
    # which addresses get an e-mail.
    mail_send_on_commit(message=message)


def _rate_limit_hit(*, kind: str, subject: str, limit: int, message: str) -> None:
    key = throttle_key(scope="signup", kind=kind, subject=subject)
    if throttle_count(key=key, window=settings.SIGNUP_RATE_WINDOW) > limit:
        raise SignUpError(message, rate_limited=True)
