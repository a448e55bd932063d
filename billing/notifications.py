"""What the billing contact is told, by e-mail, of every event that changes their bill.

One function per event; each renders templates/billing/emails/<event>.txt and .html and
sends on commit (billing/emails.py), so a refused or rolled-back action sends nothing.
Subjects name the organization and the subscription id when there is one: customers
quote the id, and find it in these e-mails.
"""

from billing.emails import customer_email_send
from billing.models import CreditNote


def notify_credit_note_issued(*, credit_note: CreditNote) -> None:
    invoice = credit_note.invoice
    subscription = invoice.subscription
    about = f" ({subscription.organization_name}, {subscription.public_id})" if subscription else ""
    customer_email_send(
        customer=credit_note.customer,
        subject=f"Credit note {credit_note.number} on invoice {invoice.number}{about}",
        template="credit_note_issued",
        context={"credit_note": credit_note, "invoice": invoice, "subscription": subscription},
    )
