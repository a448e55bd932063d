from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.services import user_portal_access_revoke
from accounts.text import CONTROL_CHARACTERS_CODE, text_refusal
from audit.services import Actor, audit_record
from billing.countries import COUNTRY_CHOICES
from billing.errors import BillingError
from billing.models import Customer, Invoice
from billing.money import CURRENCY_CHOICES
from billing.notifications import notify_contact_changed
from billing.services.vat import vat_number_is_valid

User = get_user_model()


def customer_validate_contact_email(*, email: str, exclude_user_id: int | None = None) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise BillingError("Enter a valid e-mail address.") from error
    clash = User.objects.filter(email__iexact=email)
    if exclude_user_id:
        clash = clash.exclude(pk=exclude_user_id)
    if clash.exists():
        raise BillingError(f"The address {email} is already used by another account.")
    return email


def customer_validate_vat_number(*, vat_number: str) -> str:
    vat_number = (vat_number or "").replace(" ", "").upper()
    if vat_number and not vat_number_is_valid(vat_number):
        raise BillingError(
            f"{vat_number} is not a valid EU VAT number. Check it with your tax documents, "
            "or leave the field empty."
        )
    return vat_number


def customer_validate_name(*, name: str) -> str:
    """The company name, trimmed. It goes into every e-mail subject: a line break or a
    control character could break (or forge) a header, so it is refused."""
    name = (name or "").strip()
    message = text_refusal(value=name, label="company name")
    if message:
        raise BillingError(message, code=CONTROL_CHARACTERS_CODE)
    return name


@transaction.atomic
def customer_create(
    *,
    name: str,
    contact_email: str,
    currency: str,
    country: str,
    address_line1: str,
    postal_code: str,
    city: str,
    vat_number: str = "",
    address_line2: str = "",
    actor: Actor = None,
) -> Customer:
    name = customer_validate_name(name=name)
    email = customer_validate_contact_email(email=contact_email)
    if currency not in dict(CURRENCY_CHOICES):
        raise BillingError(f"We do not bill in {currency}.")
    vat_number = customer_validate_vat_number(vat_number=vat_number)
    contact = User.objects.create_user(email=email)
    customer = Customer.objects.create(
        name=name,
        contact=contact,
        currency=currency,
        country=country,
        vat_number=vat_number,
        address_line1=address_line1,
        address_line2=address_line2,
        postal_code=postal_code,
        city=city,
    )
    audit_record(
        actor=actor,
        action="customer.create",
        target=customer,
        after={"name": name, "contact": email, "currency": currency},
    )
    return customer


# The fields a billing contact may edit on "Account Information". The last two are the
# tax identity: they decide the VAT, so a change is only proposed (pending_country,
# pending_vat_number) and takes effect once staff verify it.
ACCOUNT_FIELDS = (
    "name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_number",
)
TAX_IDENTITY_FIELDS = ("country", "vat_number")
PENDING_FIELDS = ["pending_country", "pending_vat_number", "tax_identity_requested_at"]


def _check_vat_number_matches_country(*, country: str, vat_number: str) -> None:
    countries = dict(COUNTRY_CHOICES)
    if country not in countries:
        raise BillingError("Choose a country from the list.")
    prefix = vat_number[:2]
    # Greek VAT numbers start with EL, not the ISO code GR.
    if prefix and prefix != {"GR": "EL"}.get(country, country):
        raise BillingError(
            f"The VAT number {vat_number} is from another country than "
            f"{countries[country]}. Check the country or the VAT number."
        )


def customer_tax_identity_is_pending(*, customer: Customer) -> bool:
    return customer.tax_identity_requested_at is not None


def customer_update_account(
    *,
    customer: Customer,
    name: str,
    address_line1: str,
    address_line2: str,
    postal_code: str,
    city: str,
    country: str,
    vat_number: str,
    actor: Actor,
) -> Customer:
    """The billing contact's edit of the company details. All checked first: invalid input
    changes nothing. Currency and the contact are not editable here.

    Name and address are saved at once. A new country or VAT number is stored as a
    proposal (pending_country, pending_vat_number, tax_identity_requested_at) and invoices
    keep using the verified ones until staff verify it (customer_tax_identity_verify).
    Proposing the verified values again withdraws a pending proposal."""
    values = {
        "name": customer_validate_name(name=name),
        "address_line1": (address_line1 or "").strip(),
        "address_line2": (address_line2 or "").strip(),
        "postal_code": (postal_code or "").strip(),
        "city": (city or "").strip(),
        "country": (country or "").strip().upper(),
        "vat_number": customer_validate_vat_number(vat_number=vat_number),
    }
    for field, label in (
        ("name", "company name"),
        ("address_line1", "address"),
        ("postal_code", "postal code"),
        ("city", "city"),
    ):
        if not values[field]:
            raise BillingError(f"The {label} cannot be empty.")
    _check_vat_number_matches_country(country=values["country"], vat_number=values["vat_number"])
    direct = [field for field in ACCOUNT_FIELDS if field not in TAX_IDENTITY_FIELDS]
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before = {field: getattr(locked, field) for field in direct}
        changed = [field for field in direct if before[field] != values[field]]
        if changed:
            for field in changed:
                setattr(locked, field, values[field])
            locked.save(update_fields=changed)
            audit_record(
                actor=actor,
                action="customer.update_account",
                target=locked,
                before={field: before[field] for field in changed},
                after={field: values[field] for field in changed},
            )
        _propose_tax_identity(
            customer=locked,
            country=values["country"],
            vat_number=values["vat_number"],
            actor=actor,
        )
    return locked


def _pending_snapshot(customer: Customer) -> dict:
    return {
        "pending_country": customer.pending_country,
        "pending_vat_number": customer.pending_vat_number,
        "tax_identity_requested_at": customer.tax_identity_requested_at,
    }


def _propose_tax_identity(*, customer: Customer, country: str, vat_number: str, actor: Actor):
    """Runs under the customer's row lock (customer_update_account)."""
    proposed = (country, vat_number)
    pending = customer_tax_identity_is_pending(customer=customer)
    if proposed == (customer.country, customer.vat_number):
        if not pending:
            return
        before = _pending_snapshot(customer)
        customer.pending_country, customer.pending_vat_number = "", ""
        customer.tax_identity_requested_at = None
        action = "customer.tax_identity_withdraw"
    elif pending and proposed == (customer.pending_country, customer.pending_vat_number):
        return
    else:
        before = {
            "country": customer.country,
            "vat_number": customer.vat_number,
            **(_pending_snapshot(customer) if pending else {}),
        }
        customer.pending_country, customer.pending_vat_number = proposed
        customer.tax_identity_requested_at = timezone.now()
        action = "customer.tax_identity_request"
    customer.save(update_fields=PENDING_FIELDS)
    audit_record(
        actor=actor,
        action=action,
        target=customer,
        before=before,
        after=_pending_snapshot(customer),
    )


@transaction.atomic
def customer_tax_identity_verify(
    *, customer: Customer, country: str, vat_number: str, actor: Actor
) -> Customer:
    """Staff verified the proposed country and VAT number (the ones they were shown, passed
    back as `country` and `vat_number`): they become the customer's, for the next
    invoices. Refused if the proposal changed or was withdrawn meanwhile."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer_tax_identity_is_pending(customer=locked):
        raise BillingError(
            f"{locked.name} has no new country or VAT number waiting for verification.",
            code="tax_identity_not_pending",
        )
    if (locked.pending_country, locked.pending_vat_number) != (country, vat_number):
        raise BillingError(
            f"{locked.name} changed the proposal since this page was shown. Check the new "
            "one and verify again.",
            code="tax_identity_changed",
        )
    vat_number = customer_validate_vat_number(vat_number=locked.pending_vat_number)
    _check_vat_number_matches_country(country=locked.pending_country, vat_number=vat_number)
    before = {"country": locked.country, "vat_number": locked.vat_number}
    requested_at = locked.tax_identity_requested_at
    locked.country, locked.vat_number = locked.pending_country, vat_number
    locked.pending_country, locked.pending_vat_number = "", ""
    locked.tax_identity_requested_at = None
    locked.save(update_fields=["country", "vat_number", *PENDING_FIELDS])
    audit_record(
        actor=actor,
        action="customer.tax_identity_verify",
        target=locked,
        before=before,
        after={
            "country": locked.country,
            "vat_number": locked.vat_number,
            "requested_at": requested_at,
        },
    )
    return locked


@transaction.atomic
def customer_tax_identity_reject(*, customer: Customer, reason: str, actor: Actor) -> Customer:
    """Staff could not verify the proposed country or VAT number: the proposal is dropped,
    the verified ones stay."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(
            "Say why the new country or VAT number is rejected.", code="reason_missing"
        )
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer_tax_identity_is_pending(customer=locked):
        raise BillingError(
            f"{locked.name} has no new country or VAT number waiting for verification.",
            code="tax_identity_not_pending",
        )
    before = _pending_snapshot(locked)
    locked.pending_country, locked.pending_vat_number = "", ""
    locked.tax_identity_requested_at = None
    locked.save(update_fields=PENDING_FIELDS)
    audit_record(
        actor=actor,
        action="customer.tax_identity_reject",
        target=locked,
        before=before,
        after={"country": locked.country, "vat_number": locked.vat_number, "reason": reason},
    )
    return locked


# What staff may edit on the customer's admin page. Never the credit balance (moved only
# by services/credit.py, e.g. staff's "Grant credit"); the currency only while the
# customer has no invoice.
STAFF_EDITABLE_FIELDS = (
    "name",
    "currency",
    "country",
    "vat_number",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
)


def customer_has_invoices(*, customer: Customer) -> bool:
    return customer.pk is not None and Invoice.objects.filter(customer_id=customer.pk).exists()


def customer_validate_staff_change(*, customer: Customer, changes: dict) -> dict:
    """The normalized changes if staff may make them; BillingError says why not."""
    refused = sorted(set(changes) - set(STAFF_EDITABLE_FIELDS))
    if refused:
        raise BillingError(
            f"{', '.join(refused)} cannot be edited here"
            + (": credit moves only through Grant credit." if "credit_balance" in refused else "."),
            code="field_not_editable",
        )
    values = dict(changes)
    if "name" in values:
        values["name"] = customer_validate_name(name=values["name"])
    if "currency" in values and values["currency"] != customer.currency:
        if values["currency"] not in dict(CURRENCY_CHOICES):
            raise BillingError(f"We do not bill in {values['currency']}.", code="currency_invalid")
        if customer_has_invoices(customer=customer):
            raise BillingError(
                f"The currency stays {customer.currency}: {customer.name} already has invoices "
                "in it. Create another customer to bill in another currency.",
                code="currency_locked",
            )
    if "vat_number" in values:
        values["vat_number"] = customer_validate_vat_number(vat_number=values["vat_number"])
    if "country" in values or "vat_number" in values:
        _check_vat_number_matches_country(
            country=values.get("country", customer.country),
            vat_number=values.get("vat_number", customer.vat_number),
        )
    return values


@transaction.atomic
def customer_update_by_staff(*, customer: Customer, changes: dict, actor: Actor) -> Customer:
    """Staff's edit of a customer in the admin: checked again under the row lock, only the
    changed fields written, one audit row with their before and after."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    values = customer_validate_staff_change(customer=locked, changes=changes)
    changed = [field for field, value in values.items() if getattr(locked, field) != value]
    if not changed:
        return locked
    before = {field: getattr(locked, field) for field in changed}
    for field in changed:
        setattr(locked, field, values[field])
    locked.save(update_fields=changed)
    audit_record(
        actor=actor,
        action="customer.update_by_staff",
        target=locked,
        before=before,
        after={field: values[field] for field in changed},
    )
    return locked


def customer_validate_new_contact(*, customer: Customer, email: str) -> str:
    """The normalized address if it may become this customer's billing contact: a new
    address, or one nobody uses any more (a former contact)."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise BillingError("Enter a valid e-mail address.") from error
    if customer.contact.email == email:
        raise BillingError(f"{email} is already the billing contact of {customer.name}.")
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and (
        existing.is_staff
        or existing.is_superuser
        or Customer.objects.filter(contact=existing).exists()
    ):
        raise BillingError(f"The address {email} is already used by another account.")
    return email


@transaction.atomic
def customer_change_contact(*, customer: Customer, email: str, actor: Actor) -> Customer:
    """Staff move the billing contact to another address. Every session of the previous
    contact ends at once and the old address can no longer log in (it is no longer a
    contact; its password and pending codes are removed)."""
    locked = Customer.objects.select_for_update().select_related("contact").get(pk=customer.pk)
    email = customer_validate_new_contact(customer=locked, email=email)
    previous = locked.contact
    new_contact = User.objects.filter(email__iexact=email).first()
    if new_contact is not None:
        # A former contact's address taken back: whoever set that password before, the
        # new contact proves the address with a code first.
        new_contact.is_active = True
        new_contact.set_unusable_password()
        new_contact.save(update_fields=["is_active", "password"])
    else:
        new_contact = User.objects.create_user(email=email)
    locked.contact = new_contact
    locked.save(update_fields=["contact"])
    user_portal_access_revoke(user=previous)
    audit_record(
        actor=actor,
        action="customer.change_contact",
        target=locked,
        before={"contact": previous.email},
        after={"contact": email},
    )
    notify_contact_changed(customer=locked, old_email=previous.email, new_email=email)
    return locked
