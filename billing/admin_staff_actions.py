"""Staff actions in the admin, each a confirmation page that calls one service (which
writes the audit entry): grant credit to a customer, adjust its prepaid balance (a bank
transfer received), verify or reject its proposed tax identity; change the quantity on
the customer's behalf, pause, resume, cancel and migrate a subscription; issue a credit
note; reconcile a bank transfer by invoice number (recorded as a payment); refund a
succeeded payment.

Kept apart from billing/admin.py as mixins so other admin changes merge cleanly."""

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.admin import action as admin_action
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from billing.errors import BillingError
from billing.models import Customer, Invoice, InvoiceStatus, Payment, Refund, Subscription
from billing.selectors import invoice_by_number
from billing.services.balance import (
    BALANCE_CURRENCY,
    balance_adjust_by_staff,
    balance_adjust_check,
)
from billing.services.credit import (
    credit_grant_by_staff,
    credit_parse_amount,
    credit_validate_staff_grant,
)
from billing.services.credit_notes import credit_note_issue, credit_note_preview
from billing.services.customers import (
    customer_tax_identity_is_pending,
    customer_tax_identity_reject,
    customer_tax_identity_verify,
)
from billing.services.payments import payment_record_bank_transfer
from billing.services.proration import (
    subscription_check_editable,
    subscription_quantity_preview,
)
from billing.services.quantity_change import subscription_change_quantity
from billing.services.refunds import payment_refund, refund_preview
from billing.services.subscriptions import (
    core_plans_for,
    subscription_cancel,
    subscription_migrate_to_core,
    subscription_pause,
    subscription_resume,
)
from billing.services.top_up_invoices import top_up_invoice_issue
from fleet.selectors import organization_in_field_count


class CancelForm(forms.Form):
    organization_name = forms.CharField(
        label="Type the organization's name to confirm", max_length=200
    )


class MigrateForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=None, label="Core plan", empty_label=None)

    def __init__(self, *args, subscription: Subscription, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = core_plans_for(subscription=subscription)


class CreditNoteForm(forms.Form):
    amount = forms.CharField(label="Amount to credit, before VAT", max_length=20)
    reason = forms.CharField(label="Reason (printed on the credit note)", max_length=300)


class SubscriptionQuantityAdminForm(forms.Form):
    quantity = forms.IntegerField(label="New quantity (licences)")
    # Set by the preview step; the confirmation applies only what staff saw.
    expected_terms = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)


class GrantCreditForm(forms.Form):
    # Not required here: the service's own messages say what is missing or wrong.
    amount = forms.CharField(label="Amount to credit, before VAT", max_length=20, required=False)
    reason = forms.CharField(
        label="Reason (the customer sees it)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )


class AdjustBalanceForm(forms.Form):
    amount = forms.CharField(
        label="Amount (EUR): received by bank transfer, or negative to correct",
        max_length=20,
        required=False,
    )
    reason = forms.CharField(
        label="Reason (e.g. the transfer's reference; the customer sees it)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )
    # Made at the preview: a confirmation sent twice adjusts once.
    token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=40)


class TaxIdentityVerifyForm(forms.Form):
    # The proposal staff were shown: verifying applies exactly it.
    country = forms.CharField(widget=forms.HiddenInput, max_length=2)
    vat_number = forms.CharField(widget=forms.HiddenInput, max_length=20, required=False)


class TaxIdentityRejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=300, required=False, widget=forms.TextInput(attrs={"size": 60})
    )


class InvoiceNumberForm(forms.Form):
    number = forms.CharField(label="Invoice number (the transfer reference)", max_length=40)
    # The confirmation step: what arrived on the account (the amount due when left empty).
    amount = forms.CharField(label="Amount received", max_length=20, required=False)
    # The bank's reference of this transfer (each transfer is recorded once by it); a
    # reference is generated when left empty.
    reference = forms.CharField(label="Bank reference", max_length=100, required=False)


class TopUpInvoiceForm(forms.Form):
    # Not required here: the service says what is missing or wrong.
    amount = forms.CharField(label="Amount to add to the balance", max_length=20, required=False)


class RefundForm(forms.Form):
    # Not required here: the service's own messages say what is missing or wrong.
    amount = forms.CharField(
        label="Amount to give back, VAT included", max_length=20, required=False
    )
    destination = forms.ChoiceField(
        label="Where the money goes",
        choices=[
            (Refund.TO_METHOD, "Back to the payment method"),
            (Refund.TO_CREDIT, "As customer credit"),
        ],
        widget=forms.RadioSelect,
        required=False,
    )
    reason = forms.CharField(
        label="Reason (printed on the credit note)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )


def _render(admin, request, template, title, obj=None, **context):
    return TemplateResponse(
        request,
        template,
        {
            **admin.admin_site.each_context(request),
            "opts": admin.model._meta,
            "original": obj,
            "title": title,
            **context,
        },
    )


class CustomerStaffActionsMixin:
    """Grant credit; verify or reject a proposed country / VAT number (buttons on the
    change page)."""

    change_form_template = "admin/billing/customer/change_form_staff_actions.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/grant-credit/",
                view(self.grant_credit_view),
                name="billing_customer_grant_credit",
            ),
            path(
                "<int:pk>/top-up-invoice/",
                view(self.top_up_invoice_view),
                name="billing_customer_top_up_invoice",
            ),
            path(
                "<int:pk>/adjust-balance/",
                view(self.adjust_balance_view),
                name="billing_customer_adjust_balance",
            ),
            path(
                "<int:pk>/verify-tax-identity/",
                view(self.verify_tax_identity_view),
                name="billing_customer_verify_tax_identity",
            ),
            path(
                "<int:pk>/reject-tax-identity/",
                view(self.reject_tax_identity_view),
                name="billing_customer_reject_tax_identity",
            ),
            *super().get_urls(),
        ]

    def _customer(self, request, pk) -> Customer:
        if not request.user.has_perm("billing.change_customer"):
            raise PermissionDenied
        return get_object_or_404(Customer.objects.select_related("contact"), pk=pk)

    def _customer_done(self, request, customer, message):
        messages.success(request, message)
        return redirect(reverse("admin:billing_customer_change", args=[customer.pk]))

    def top_up_invoice_view(self, request, pk):
        """An invoice for a prepaid balance top-up, paid by bank transfer: amount, then a
        confirmation page, then top_up_invoice_issue (reconciling it credits the balance)."""
        customer = self._customer(request, pk)
        form = TopUpInvoiceForm(request.POST or None)
        error = preview = None
        if request.method == "POST" and form.is_valid():
            try:
                amount = credit_parse_amount(raw=form.cleaned_data["amount"])
                if "_confirm" in request.POST:
                    invoice = top_up_invoice_issue(
                        customer=customer, amount=amount, actor=request.user
                    )
                    return self._customer_done(
                        request,
                        customer,
                        f"Invoice {invoice.number} for {invoice.total} issued to "
                        f"{customer.name}; reconciling its transfer adds it to the balance.",
                    )
                preview = {"amount": amount}
            except BillingError as exc:
                error = exc.message
        return _render(
            self,
            request,
            "admin/billing/customer/top_up_invoice.html",
            f"Top-up invoice for {customer.name}",
            customer,
            form=form,
            error=error,
            preview=preview,
        )

    def grant_credit_view(self, request, pk):
        """Amount and reason, then a confirmation page, then credit_grant_by_staff."""
        customer = self._customer(request, pk)
        form = GrantCreditForm(request.POST or None)
        error = preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if "_confirm" in request.POST:
                    entry = credit_grant_by_staff(
                        customer=customer,
                        amount=data["amount"],
                        reason=data["reason"],
                        actor=request.user,
                    )
                    return self._customer_done(
                        request,
                        customer,
                        f"{entry.amount} {customer.currency} credited to {customer.name}; "
                        f"their credit balance is {entry.balance_after} {customer.currency}.",
                    )
                amount, reason = credit_validate_staff_grant(
                    amount=data["amount"], reason=data["reason"]
                )
                preview = {
                    "amount": amount,
                    "reason": reason,
                    "balance_after": customer.credit_balance + amount,
                }
            except BillingError as exc:
                error = exc.message
        return _render(
            self,
            request,
            "admin/billing/customer/grant_credit.html",
            f"Grant credit to {customer.name}",
            customer,
            form=form,
            error=error,
            preview=preview,
        )

    def adjust_balance_view(self, request, pk):
        """A bank transfer received for the prepaid balance (or a correction): amount and
        reason, a confirmation page, then balance_adjust_by_staff (audited)."""
        customer = self._customer(request, pk)
        form = AdjustBalanceForm(request.POST or None)
        error = preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                amount, reason, after = balance_adjust_check(
                    balance=customer.balance, amount=data["amount"], reason=data["reason"]
                )
                if "_confirm" in request.POST and data["token"]:
                    entry = balance_adjust_by_staff(
                        customer=customer,
                        amount=data["amount"],
                        reason=data["reason"],
                        actor=request.user,
                        key=f"staff:{customer.pk}:{data['token']}",
                    )
                    return self._customer_done(
                        request,
                        customer,
                        f"{entry.amount} {BALANCE_CURRENCY} on the balance of {customer.name}; "
                        f"it is now {entry.balance_after} {BALANCE_CURRENCY}.",
                    )
                preview = {
                    "amount": amount,
                    "reason": reason,
                    "balance_after": after,
                    "token": uuid.uuid4().hex,
                }
            except BillingError as exc:
                error = exc.message
        return _render(
            self,
            request,
            "admin/billing/customer/adjust_balance.html",
            f"Adjust the balance of {customer.name}",
            customer,
            form=form,
            error=error,
            preview=preview,
            currency=BALANCE_CURRENCY,
        )

    def verify_tax_identity_view(self, request, pk):
        customer = self._customer(request, pk)
        error = None
        if request.method == "POST":
            form = TaxIdentityVerifyForm(request.POST)
            if form.is_valid():
                try:
                    customer_tax_identity_verify(
                        customer=customer,
                        country=form.cleaned_data["country"],
                        vat_number=form.cleaned_data["vat_number"],
                        actor=request.user,
                    )
                except BillingError as exc:
                    error = exc.message
                    customer.refresh_from_db()
                else:
                    return self._customer_done(
                        request,
                        customer,
                        f"The country and VAT number of {customer.name} are verified: the "
                        "next invoices use them.",
                    )
            else:
                error = "The page was incomplete: check the proposal and verify again."
        if error is None and not customer_tax_identity_is_pending(customer=customer):
            error = f"{customer.name} has no new country or VAT number waiting for verification."
        form = TaxIdentityVerifyForm(
            initial={"country": customer.pending_country, "vat_number": customer.pending_vat_number}
        )
        return _render(
            self,
            request,
            "admin/billing/customer/verify_tax_identity.html",
            f"Verify the tax identity of {customer.name}",
            customer,
            form=form,
            error=error,
            pending=customer_tax_identity_is_pending(customer=customer),
        )

    def reject_tax_identity_view(self, request, pk):
        customer = self._customer(request, pk)
        form = TaxIdentityRejectForm(request.POST or None)
        error = None
        if request.method == "POST" and form.is_valid():
            try:
                customer_tax_identity_reject(
                    customer=customer, reason=form.cleaned_data["reason"], actor=request.user
                )
            except BillingError as exc:
                error = exc.message
            else:
                return self._customer_done(
                    request,
                    customer,
                    f"The proposed country and VAT number of {customer.name} are rejected; "
                    "the verified ones stay.",
                )
        elif not customer_tax_identity_is_pending(customer=customer):
            error = f"{customer.name} has no new country or VAT number waiting for verification."
        return _render(
            self,
            request,
            "admin/billing/customer/reject_tax_identity.html",
            f"Reject the tax identity proposed by {customer.name}",
            customer,
            form=form,
            error=error,
            pending=customer_tax_identity_is_pending(customer=customer),
        )


class SubscriptionStaffActionsMixin:
    """Change quantity, pause, resume, cancel, migrate legacy -> Core (buttons on the
    change page; change quantity also as a list action)."""

    change_form_template = "admin/billing/subscription/change_form_staff_actions.html"
    actions = ["change_quantity_action"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/change-quantity/",
                view(self.change_quantity_view),
                name="billing_subscription_change_quantity",
            ),
            path("<int:pk>/pause/", view(self.pause_view), name="billing_subscription_pause"),
            path("<int:pk>/resume/", view(self.resume_view), name="billing_subscription_resume"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="billing_subscription_cancel"),
            path(
                "<int:pk>/migrate-to-core/",
                view(self.migrate_view),
                name="billing_subscription_migrate",
            ),
            *super().get_urls(),
        ]

    def _subscription(self, request, pk) -> Subscription:
        if not request.user.has_perm("billing.change_subscription"):
            raise PermissionDenied
        return get_object_or_404(
            Subscription.objects.select_related("customer", "plan", "organization"), pk=pk
        )

    def _done(self, request, subscription, message):
        messages.success(request, message)
        return redirect(reverse("admin:billing_subscription_change", args=[subscription.pk]))

    def _confirm_view(self, request, pk, *, service, action: str, template: str, done: str):
        """A confirmation page whose POST calls `service(subscription=, actor=)`."""
        subscription = self._subscription(request, pk)
        error = None
        if request.method == "POST":
            try:
                service(subscription=subscription, actor=request.user)
            except BillingError as exc:
                error = exc.message
            else:
                return self._done(request, subscription, f"{subscription.public_id} {done}")
        return _render(
            self,
            request,
            template,
            f"{action} {subscription.public_id}",
            subscription,
            error=error,
        )

    # ---- change quantity on the customer's behalf: the same service as the portal's
    # Edit Subscription (preview, then confirm), with the staff user as the actor.

    @admin_action(description="Change quantity on the customer's behalf…")
    def change_quantity_action(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, "Select exactly one subscription to change its quantity.")
            return None
        return redirect("admin:billing_subscription_change_quantity", queryset.get().pk)

    def change_quantity_view(self, request, object_id):
        subscription = self.get_object(request, object_id)
        if subscription is None or not self.has_view_permission(request, subscription):
            raise Http404("No such subscription")
        today = timezone.now().date()
        form = SubscriptionQuantityAdminForm(request.POST or None)
        preview = refusal = None
        try:
            subscription_check_editable(subscription=subscription)
        except BillingError as error:
            refusal = error.message
        if refusal is None and request.method == "POST" and form.is_valid():
            quantity = form.cleaned_data["quantity"]
            try:
                confirmed = bool(form.cleaned_data["expected_terms"])
                if (
                    request.POST.get("confirm")
                    and confirmed
                    and self.has_change_permission(request)
                ):
                    change = subscription_change_quantity(
                        subscription=subscription,
                        quantity=quantity,
                        actor=request.user,
                        expected_terms=form.cleaned_data["expected_terms"],
                    )
                    messages.success(
                        request,
                        f"{subscription.public_id}: quantity set to {quantity}"
                        + (f"; invoice {change.invoice.number} issued." if change.invoice else ".")
                        + (
                            f" {change.preview.credit_gained} credited."
                            if change.preview.credit_gained
                            else ""
                        ),
                    )
                    return redirect("admin:billing_subscription_change", subscription.pk)
                preview = subscription_quantity_preview(
                    subscription=subscription, quantity=quantity, today=today
                )
            except BillingError as error:
                form.add_error("quantity", error.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Change the quantity of {subscription.public_id}",
            "subscription": subscription,
            "form": form,
            "preview": preview,
            "refusal": refusal,
        }
        return TemplateResponse(request, "admin/billing/subscription/change_quantity.html", context)

    def pause_view(self, request, pk):
        return self._confirm_view(
            request,
            pk,
            service=subscription_pause,
            action="Pause",
            template="admin/billing/subscription/pause.html",
            done="is paused.",
        )

    def resume_view(self, request, pk):
        return self._confirm_view(
            request,
            pk,
            service=subscription_resume,
            action="Resume",
            template="admin/billing/subscription/resume.html",
            done="is active again; a new period starts today and its invoice was issued.",
        )

    def cancel_view(self, request, pk):
        subscription = self._subscription(request, pk)
        form = CancelForm(request.POST or None)
        error = None
        if request.method == "POST" and form.is_valid():
            try:
                subscription_cancel(
                    subscription=subscription,
                    confirm_name=form.cleaned_data["organization_name"],
                    actor=request.user,
                )
            except BillingError as exc:
                error = exc.message
            else:
                return self._done(
                    request,
                    subscription,
                    f"{subscription.public_id} is cancelled; its organization and devices "
                    "were erased, its invoices are kept.",
                )
        device_count = subscription.organization.devices.count() if subscription.organization else 0
        return _render(
            self,
            request,
            "admin/billing/subscription/cancel.html",
            f"Cancel {subscription.public_id}",
            subscription,
            form=form,
            error=error,
            device_count=device_count,
        )

    def migrate_view(self, request, pk):
        subscription = self._subscription(request, pk)
        form = MigrateForm(request.POST or None, subscription=subscription)
        error = None
        if request.method == "POST" and form.is_valid():
            try:
                subscription_migrate_to_core(
                    subscription=subscription, plan=form.cleaned_data["plan"], actor=request.user
                )
            except BillingError as exc:
                error = exc.message
            else:
                return self._done(
                    request,
                    subscription,
                    f"{subscription.public_id} moves to {form.cleaned_data['plan'].name}: "
                    "licences now, the new price from the next renewal.",
                )
        in_field = (
            organization_in_field_count(organization=subscription.organization)
            if subscription.organization
            else 0
        )
        return _render(
            self,
            request,
            "admin/billing/subscription/migrate_to_core.html",
            f"Migrate {subscription.public_id} to the Core plan",
            subscription,
            form=form,
            error=error,
            quantity=max(1, in_field),
            in_field=in_field,
        )


class InvoiceStaffActionsMixin:
    """Issue a credit note; reconcile a bank transfer by invoice number."""

    change_form_template = "admin/billing/invoice/change_form_staff_actions.html"
    change_list_template = "admin/billing/invoice/change_list_staff_actions.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "reconcile-bank-transfer/",
                view(self.reconcile_view),
                name="billing_invoice_reconcile",
            ),
            path(
                "<int:pk>/credit-note/",
                view(self.credit_note_view),
                name="billing_invoice_credit_note",
            ),
            *super().get_urls(),
        ]

    def _check(self, request):
        if not request.user.has_perm("billing.change_invoice"):
            raise PermissionDenied

    def credit_note_view(self, request, pk):
        self._check(request)
        invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
        form = CreditNoteForm(request.POST or None)
        error = preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if "_confirm" in request.POST:
                    note = credit_note_issue(
                        invoice=invoice,
                        amount=data["amount"],
                        reason=data["reason"],
                        actor=request.user,
                    )
                    messages.success(
                        request,
                        f"Credit note {note.number} issued on {invoice.number}: "
                        f"{note.total} including VAT.",
                    )
                    return redirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))
                preview = credit_note_preview(invoice=invoice, amount=data["amount"])
            except BillingError as exc:
                error = exc.message
        return _render(
            self,
            request,
            "admin/billing/invoice/credit_note.html",
            f"Credit note on {invoice}",
            invoice,
            form=form,
            error=error,
            preview=preview,
        )

    def reconcile_view(self, request):
        self._check(request)
        form = InvoiceNumberForm(request.POST or request.GET or None)
        error = invoice = None
        if form.is_bound and form.is_valid():
            invoice = invoice_by_number(number=form.cleaned_data["number"])
            if invoice is None:
                error = f"No invoice has the number {form.cleaned_data['number']}."
            elif invoice.status != InvoiceStatus.OPEN:
                error = f"Invoice {invoice.number} is {invoice.get_status_display().lower()}."
                invoice = None
            elif request.method == "POST" and "_confirm" in request.POST:
                try:
                    payment = payment_record_bank_transfer(
                        invoice=invoice,
                        amount=_amount_received(form.cleaned_data["amount"], invoice=invoice),
                        actor=request.user,
                        reference=form.cleaned_data["reference"],
                    )
                except BillingError as exc:
                    error = exc.message
                else:
                    invoice.refresh_from_db()
                    if invoice.status == InvoiceStatus.PAID:
                        done = (
                            f"Invoice {invoice.number} is paid by bank transfer "
                            f"({payment.amount} {payment.currency})."
                        )
                    else:
                        done = (
                            f"{payment.amount} {payment.currency} received on invoice "
                            f"{invoice.number} by bank transfer; {invoice.amount_due} is still due."
                        )
                    messages.success(request, done)
                    return redirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))
        return _render(
            self,
            request,
            "admin/billing/invoice/reconcile_bank_transfer.html",
            "Reconcile a bank transfer",
            form=form,
            error=error,
            invoice=invoice,
        )


def _amount_received(text: str, *, invoice: Invoice) -> Decimal:
    """The amount staff typed, or the invoice's amount due when left empty."""
    text = (text or "").strip()
    if not text:
        return invoice.amount_due.amount
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BillingError(
            "Enter the amount received, e.g. 120.00.", code="amount_invalid"
        ) from None
    if not amount.is_finite():
        raise BillingError("Enter the amount received, e.g. 120.00.", code="amount_invalid")
    return amount


class PaymentStaffActionsMixin:
    """Refund a succeeded payment: amount, destination and reason, a preview
    (refund_preview), then payment_refund on confirm. Bad input changes nothing."""

    change_form_template = "admin/billing/payment/change_form_staff_actions.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/refund/", view(self.refund_view), name="billing_payment_refund"),
            *super().get_urls(),
        ]

    def refund_view(self, request, pk):
        if not request.user.has_perm("billing.change_payment"):
            raise PermissionDenied
        payment = get_object_or_404(
            Payment.objects.select_related("invoice", "customer", "method"), pk=pk
        )
        form = RefundForm(request.POST or None, initial={"destination": Refund.TO_METHOD})
        error = preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if "_confirm" in request.POST:
                    refund = payment_refund(
                        payment=payment,
                        amount=data["amount"],
                        destination=data["destination"],
                        reason=data["reason"],
                        actor=request.user,
                    )
                    where = (
                        "to the payment method"
                        if refund.destination == Refund.TO_METHOD
                        else "as customer credit"
                    )
                    messages.success(
                        request,
                        f"{refund.amount} {payment.currency} refunded {where}; credit note "
                        f"{refund.credit_note.number} issued on {payment.invoice.number}.",
                    )
                    return redirect(reverse("admin:billing_payment_change", args=[payment.pk]))
                if not (data["reason"] or "").strip():
                    raise BillingError("Say why the payment is refunded.", code="reason_missing")
                preview = refund_preview(
                    payment=payment, amount=data["amount"], destination=data["destination"]
                )
            except BillingError as exc:
                error = exc.message
        return _render(
            self,
            request,
            "admin/billing/payment/refund.html",
            f"Refund payment {payment.pk} of {payment.customer}",
            payment,
            form=form,
            error=error,
            preview=preview,
            left=payment.amount - payment.refunded,
        )
