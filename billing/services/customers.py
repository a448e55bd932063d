from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from audit.services import audit_record
from billing.errors import BillingError
from billing.models import Customer
from billing.money import CURRENCY_CHOICES
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
