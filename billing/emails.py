"""E-mails to a customer's billing contact: a plain-text and an HTML part from templates
templates/billing/emails/<name>.txt and <name>.html, sent after the transaction commits
through accounts.mail (a failed message is logged, never raised into the action that sent
it; a name with a control character is flattened in the subject)."""

from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.mail import mail_send_on_commit
from billing.models import Customer

# (file name, content, MIME type), as EmailMessage.attach takes them.
Attachment = tuple[str, bytes, str]


def customer_email_send(
    *,
    customer: Customer,
    subject: str,
    template: str,
    context: dict,
    attachments: list[Attachment] | None = None,
    to: str | None = None,
    on_failure: Callable[[], None] | None = None,
) -> None:
    """Queues the e-mail for when the current transaction commits (at once outside one),
    so a rolled-back change never sends mail. `to` defaults to the billing contact (a
    contact change also writes to the previous address)."""
    context = {"customer": customer, "seller": settings.BILLING_SELLER, **context}
    text = render_to_string(f"billing/emails/{template}.txt", context)
    html = render_to_string(f"billing/emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to or customer.email])
    message.attach_alternative(html, "text/html")
    for name, content, mimetype in attachments or ():
        message.attach(name, content, mimetype)
    mail_send_on_commit(message=message, on_failure=on_failure)
