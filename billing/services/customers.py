from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.services import user_portal_access_revoke
from audit.services import audit_record
from billing.countries import COUNTRY_CHOICES
from billing.errors import BillingError
from billing.models import Customer
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
    actor: Any = None,
) -> Customer:
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


# The fields a billing contact may edit on "Account Information".
ACCOUNT_FIELDS = (
    "name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_number",
)


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
    actor: Any,
) -> Customer:
    """The billing contact's edit of the company details. All checked first: invalid input
    changes nothing. Currency and the contact are not editable here."""
    values = {
        "name": (name or "").strip(),
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
    countries = dict(COUNTRY_CHOICES)
    if values["country"] not in countries:
        raise BillingError("Choose a country from the list.")
    prefix = values["vat_number"][:2]
    # Greek VAT numbers start with EL, not the ISO code GR.
    if prefix and prefix != {"GR": "EL"}.get(values["country"], values["country"]):
        raise BillingError(
            f"The VAT number {values['vat_number']} is from another country than "
            f"{countries[values['country']]}. Check the country or the VAT number."
        )
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before = {field: getattr(locked, field) for field in ACCOUNT_FIELDS}
        changed = [field for field in ACCOUNT_FIELDS if before[field] != values[field]]
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
def customer_change_contact(*, customer: Customer, email: str, actor: Any) -> Customer:
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
