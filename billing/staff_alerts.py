"""E-mails to staff (STAFF_ALERT_EMAIL) about money that needs a person: an amount a gateway
reports that is not the one asked, a dispute, a chargeback the balance could not cover.
Sent when the transaction commits; below every service, so any of them may alert."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction


def staff_alert(*, subject: str, body: str) -> None:
    mail = EmailMessage(
        subject=subject,
        body=f"{body}\n\n{settings.PORTAL_BASE_URL.rstrip('/')}/admin/billing/payment/\n",
        to=[settings.STAFF_ALERT_EMAIL],
    )
    transaction.on_commit(mail.send, robust=True)
