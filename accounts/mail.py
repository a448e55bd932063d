"""The one way e-mail leaves the portal: queued for when the transaction commits, one
message at a time, a failure logged and never raised.

Why never raised: e-mails are sent after the action they tell of has committed (a
top-up credited, a credit granted, an instance disabled). An exception then would turn a
done action into a 500 for the person who did it, and in a loop (the nightly notices,
the renewal invoices, the reminders) it would stop the e-mails of every later customer.
The failure is logged with its recipients and subject for staff to follow up."""

import logging
from collections.abc import Callable

from django.core.mail import EmailMessage
from django.db import transaction

from accounts.text import mail_subject_safe

logger = logging.getLogger(__name__)


def mail_send(*, message: EmailMessage) -> bool:
    """Sends now; True if the backend took it, False (logged) if it failed."""
    # A legacy name with a line break would raise BadHeaderError: flatten it instead.
    message.subject = mail_subject_safe(message.subject)
    try:
        message.send()
    # Any failure (BadHeaderError, SMTPException, a socket error) concerns this message only.
    except Exception:
        logger.exception("e-mail not sent to %s, subject %r", message.to, message.subject)
        return False
    return True


def mail_send_on_commit(
    *, message: EmailMessage, on_failure: Callable[[], None] | None = None
) -> None:
    """Sends when the current transaction commits (at once outside one): a rolled-back
    action sends nothing. `on_failure` runs when the message could not be sent, e.g. to
    release a "sent once" claim so that a sweep sends it later."""
    message.subject = mail_subject_safe(message.subject)

    def send() -> None:
        if not mail_send(message=message) and on_failure is not None:
            on_failure()

    transaction.on_commit(send)
