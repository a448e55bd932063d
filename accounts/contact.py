""" "Contact Us": a visitor's message (e.g. a contract with invoices paid by bank transfer),
stored, e-mailed to staff (STAFF_CONTACT_EMAIL) and marked handled by staff in the admin.
Limited per client IP (accounts.throttle)."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.mail import mail_send_on_commit
from accounts.models import ContactRequest, User
from accounts.text import text_refusal
from accounts.throttle import throttle_count, throttle_key
from audit.services import audit_record


class ContactError(Exception):
    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.message = message
        self.rate_limited = rate_limited


def _one_line(value: str) -> str:
    return " ".join((value or "").split())


@transaction.atomic
def contact_request_create(
    *,
    name: str,
    company: str,
    email: str,
    message: str,
    wants_contract: bool,
    client_ip: str,
) -> ContactRequest:
    # Both go into the subject of the e-mail to staff: refused, not flattened, so what
    # staff read is what the visitor typed.
    for value, label in ((name, "name"), (company, "company name")):
        refusal = text_refusal(value=value, label=label)
        if refusal:
            raise ContactError(refusal)
    key = throttle_key(scope="contact", kind="ip", subject=client_ip)
    if throttle_count(key=key, window=settings.CONTACT_RATE_WINDOW) > (
        settings.CONTACT_REQUESTS_PER_IP
    ):
        raise ContactError(
            "Too many messages were sent from your network. Wait an hour and try again, or "
            f"write to {settings.STAFF_CONTACT_EMAIL}.",
            rate_limited=True,
        )
    request = ContactRequest.objects.create(
        name=_one_line(name),
        company=_one_line(company),
        email=(email or "").strip().lower(),
        message=(message or "").strip(),
        wants_contract=wants_contract,
        client_ip=client_ip or None,
    )
    body = render_to_string("portal/emails/contact_request.txt", {"request": request})
    kind = "Contract and bank transfer" if wants_contract else "Contact Us"
    mail = EmailMessage(
        subject=f"{kind}: {request.company} ({request.name})",
        body=body,
        to=[settings.STAFF_CONTACT_EMAIL],
        reply_to=[request.email],
    )
    # A mail server that fails is logged (accounts.mail); the visitor still gets the answer.
    mail_send_on_commit(message=mail)
    return request


@transaction.atomic
def contact_requests_mark_handled(*, requests, actor: User) -> int:
    """Marks the not yet handled ones among `requests` handled by `actor`, one audit row
    each; returns how many."""
    now = timezone.now()
    pending = list(requests.select_for_update().filter(handled_at__isnull=True))
    for request in pending:
        request.handled_at, request.handled_by = now, actor
        request.save(update_fields=["handled_at", "handled_by"])
        audit_record(
            actor=actor,
            action="contact_request.handled",
            target=request,
            after={"handled_at": now},
        )
    return len(pending)
