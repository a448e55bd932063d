"""Account Information: the company details the billing contact may edit, and the password."""

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.errors import BillingError
from billing.services.customers import (
    ACCOUNT_FIELDS,
    customer_tax_identity_is_pending,
    customer_update_account,
)
from portal.auth import LoginError, login_has_password, login_password_set
from portal.context import customer_required
from portal.forms import AccountForm, ChangePasswordForm, FirstPasswordForm


@require_http_methods(["GET", "POST"])
@customer_required
def account(request, *, customer):
    initial = {field: getattr(customer, field) for field in ACCOUNT_FIELDS}
    if customer_tax_identity_is_pending(customer=customer):
        # The form shows what the customer proposed; invoices use the verified values.
        initial.update(country=customer.pending_country, vat_number=customer.pending_vat_number)
    form = AccountForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            updated = customer_update_account(
                customer=customer, actor=request.user, **form.cleaned_data
            )
        except BillingError as error:
            form.add_error(None, error.message)
        else:
            message = "Your account information is saved."
            if customer_tax_identity_is_pending(customer=updated):
                message += (
                    " Your new country or VAT number takes effect once we have verified it;"
                    " until then your invoices use the current ones."
                )
            messages.success(request, message)
            return redirect("portal:account")
    return render(
        request,
        "portal/account.html",
        {
            "form": form,
            "customer": customer,
            "tax_identity_pending": customer_tax_identity_is_pending(customer=customer),
            "has_password": login_has_password(user=request.user),
            "nav": "account",
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@customer_required
def account_password(request, *, customer):
    user = request.user
    first_time = not login_has_password(user=user)
    form_class = FirstPasswordForm if first_time else ChangePasswordForm
    form = form_class(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            login_password_set(user=user, password=form.cleaned_data["new_password1"])
        except LoginError as error:
            form.add_error(None, error.message)
        else:
            # Stay logged in here; other sessions end with the old password.
            update_session_auth_hash(request, user)
            messages.success(
                request,
                "Your password is set. Next time you can log in with it, or with a code."
                if first_time
                else "Your password is changed.",
            )
            return redirect("portal:account")
    return render(
        request,
        "portal/account_password.html",
        {"form": form, "first_time": first_time, "nav": "account"},
        status=400 if form.errors else 200,
    )
