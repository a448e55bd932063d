from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.text import CONTROL_CHARACTERS_CODE, NoControlCharactersFormMixin
from audit.admin import AuditedChangesMixin, AuditHistoryMixin
from billing.admin_staff_actions import (
    CustomerStaffActionsMixin,
    InvoiceStaffActionsMixin,
    PaymentStaffActionsMixin,
    SubscriptionStaffActionsMixin,
)
from billing.errors import BillingError
from billing.models import (
    BalanceEntry,
    CreditEntry,
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceReminder,
    NumberSequence,
    Payment,
    Plan,
    Subscription,
    WebhookEvent,
)
from billing.services.customers import (
    STAFF_EDITABLE_FIELDS,
    customer_change_contact,
    customer_create,
    customer_has_invoices,
    customer_update_by_staff,
    customer_validate_new_contact,
    customer_validate_staff_change,
    customer_validate_vat_number,
)
from billing.services.quantities import subscription_validate_quantity
from billing.services.subscriptions import subscription_create, subscription_validate_plan


class CustomerAddForm(NoControlCharactersFormMixin, forms.ModelForm):
    control_character_labels = {"name": "company name"}
    contact_email = forms.EmailField(label="Billing contact e-mail")

    class Meta:
        model = Customer
        fields = (
            "name",
            "contact_email",
            "currency",
            "country",
            "vat_number",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
        )

    def clean(self):
        data = super().clean()
        from billing.services.customers import customer_validate_contact_email

        for field, check in (
            ("contact_email", lambda v: customer_validate_contact_email(email=v)),
            ("vat_number", lambda v: customer_validate_vat_number(vat_number=v)),
        ):
            if data.get(field) is not None:
                try:
                    data[field] = check(data[field])
                except BillingError as error:
                    self.add_error(field, error.message)
        return data


class CustomerChangeContactForm(forms.Form):
    email = forms.EmailField(label="New billing contact e-mail")


class CustomerChangeForm(NoControlCharactersFormMixin, forms.ModelForm):
    """Staff's edit of a customer: the rules live in customer_validate_staff_change (the
    currency is fixed once an invoice exists; the credit balance is never a form field)."""

    control_character_labels = {"name": "company name"}

    class Meta:
        model = Customer
        fields = STAFF_EDITABLE_FIELDS

    _ERROR_FIELDS = {
        "currency_locked": "currency",
        "currency_invalid": "currency",
        CONTROL_CHARACTERS_CODE: "name",
    }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        changes = {name: data[name] for name in self.changed_data if name in data}
        try:
            data.update(customer_validate_staff_change(customer=self.instance, changes=changes))
        except BillingError as error:
            field = self._ERROR_FIELDS.get(error.code)
            if field is None and "VAT number" in error.message:
                field = "vat_number"
            self.add_error(field if field in self.fields else None, error.message)
        return data


def _credit_document(entry: CreditEntry) -> str:
    """The invoice and / or credit note a credit entry comes from or went to."""
    parts = []
    if entry.invoice is not None:
        parts.append(entry.invoice.number or f"draft invoice {entry.invoice.pk}")
    if entry.credit_note is not None:
        parts.append(entry.credit_note.number)
    return ", ".join(parts) or "-"


class TaxIdentityPendingFilter(admin.SimpleListFilter):
    title = "tax identity"
    parameter_name = "tax_identity"

    def lookups(self, request, model_admin):
        return (("pending", "Pending verification"), ("verified", "Verified"))

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(tax_identity_requested_at__isnull=False)
        if self.value() == "verified":
            return queryset.filter(tax_identity_requested_at__isnull=True)
        return queryset


@admin.register(Customer)
class CustomerAdmin(CustomerStaffActionsMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "contact",
        "country",
        "currency",
        "vat_number",
        "tax_identity_pending",
        "created_at",
    )
    list_filter = (TaxIdentityPendingFilter, "country", "currency")
    search_fields = ("name", "contact__email", "vat_number", "city")
    list_select_related = ("contact",)
    change_fields = (
        "name",
        "contact",
        "change_contact_link",
        "currency",
        "country",
        "vat_number",
        "tax_identity",
        "address_line1",
        "address_line2",
        "postal_code",
        "city",
        "credit_balance",
        "credit_history",
        "created_at",
        "audit_history",
    )
    # The credit balance moves only through services/credit.py ("Grant credit" here).
    readonly_fields = (
        "contact",
        "change_contact_link",
        "tax_identity",
        "credit_balance",
        "credit_history",
        "created_at",
        "audit_history",
    )
    actions = ("change_billing_contact",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = CustomerAddForm if obj is None else CustomerChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return CustomerAddForm.Meta.fields
        return self.change_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if customer_has_invoices(customer=obj):
            return ("currency", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in STAFF_EDITABLE_FIELDS
            }
            try:
                customer_update_by_staff(customer=obj, changes=changes, actor=request.user)
            except BillingError as error:  # changed since the form was checked
                messages.error(request, f"Not saved: {error.message}")
                obj.refresh_from_db()
            return
        data = form.cleaned_data
        created = customer_create(
            name=data["name"],
            contact_email=data["contact_email"],
            currency=data["currency"],
            country=data["country"],
            vat_number=data["vat_number"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            postal_code=data["postal_code"],
            city=data["city"],
            actor=request.user,
        )
        obj.pk = created.pk
        obj.contact = created.contact

    @admin.display(description="Tax identity pending", boolean=True)
    def tax_identity_pending(self, obj):
        return obj.tax_identity_requested_at is not None

    @admin.display(description="Proposed tax identity")
    def tax_identity(self, obj):
        if obj is None or obj.tax_identity_requested_at is None:
            return "None pending: invoices use the country and VAT number above."
        return format_html(
            "Pending verification since {}: country {}, VAT number {}. "
            '<a class="button" href="{}">Verify…</a> <a class="button" href="{}">Reject…</a>',
            f"{obj.tax_identity_requested_at:%Y-%m-%d %H:%M}",
            obj.get_pending_country_display(),
            obj.pending_vat_number or "none",
            reverse("admin:billing_customer_verify_tax_identity", args=[obj.pk]),
            reverse("admin:billing_customer_reject_tax_identity", args=[obj.pk]),
        )

    @admin.display(description="Credit history")
    def credit_history(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        entries = (
            CreditEntry.objects.filter(customer=obj)
            .select_related("invoice", "credit_note")
            .order_by("-created_at", "-id")[:200]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{entry.created_at:%Y-%m-%d %H:%M}",
                    entry.get_kind_display(),
                    entry.amount,
                    entry.balance_after,
                    entry.reason,
                    _credit_document(entry),
                )
                for entry in entries
            ),
        )
        return format_html(
            '<table class="credit-history"><thead><tr><th>When (UTC)</th><th>Kind</th>'
            "<th>Amount ({})</th><th>Balance after</th><th>Reason</th>"
            "<th>Invoice / credit note</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a class="button" href="{}">Grant credit…</a></p>',
            obj.currency,
            rows or mark_safe("<tr><td colspan=6>No credit yet.</td></tr>"),
            reverse("admin:billing_customer_grant_credit", args=[obj.pk]),
        )

    # ---- change the billing contact: form, confirmation page, then the service --------

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/change-contact/",
                self.admin_site.admin_view(self.change_contact_view),
                name="billing_customer_change_contact",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="Change billing contact")
    def change_contact_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:billing_customer_change_contact", args=[obj.pk])
        return format_html('<a class="button" href="{}">Change billing contact…</a>', url)

    @admin.action(description="Change billing contact (one customer)")
    def change_billing_contact(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one customer to change its billing contact.", "error"
            )
            return None
        return redirect("admin:billing_customer_change_contact", queryset.get().pk)

    def change_contact_view(self, request, object_id):
        customer = get_object_or_404(Customer.objects.select_related("contact"), pk=object_id)
        if not self.has_change_permission(request, customer):
            raise PermissionDenied
        form = CustomerChangeContactForm(request.POST if request.method == "POST" else None)
        confirming, email = False, ""
        if request.method == "POST" and form.is_valid():
            try:
                email = customer_validate_new_contact(
                    customer=customer, email=form.cleaned_data["email"]
                )
                if request.POST.get("confirm") == "yes":
                    customer_change_contact(customer=customer, email=email, actor=request.user)
                    self.message_user(
                        request,
                        f"The billing contact of {customer.name} is now {email}. Every session "
                        "of the previous contact has ended; that address can no longer log in.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:billing_customer_change", customer.pk)
                confirming = True
            except BillingError as error:
                form.add_error("email", error.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": customer,
            "customer": customer,
            "form": form,
            "confirming": confirming,
            "new_email": email,
            "title": f"Change the billing contact of {customer.name}",
        }
        return TemplateResponse(request, "admin/billing/customer/change_contact.html", context)


@admin.register(Plan)
class PlanAdmin(AuditedChangesMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("code", "name", "kind", "interval", "unit_price", "is_active")
    list_filter = ("kind", "interval", "is_active", "unit_price_currency")
    search_fields = ("code", "name")
    # Price changes are audited (AuditedChangesMixin) and listed here.
    readonly_fields = ("audit_history",)


class SubscriptionAddForm(NoControlCharactersFormMixin, forms.ModelForm):
    # On the field: _post_clean (where the model's clean() runs) is skipped below.
    control_character_labels = {"organization_name": "organization name"}
    start = forms.DateField(
        initial=lambda: timezone.now().date(),
        help_text="The billing date: the first period starts here.",
    )

    class Meta:
        model = Subscription
        fields = ("customer", "organization_name", "plan", "quantity", "start")

    def clean(self):
        data = super().clean()
        if data.get("customer") and data.get("plan"):
            try:
                subscription_validate_plan(customer=data["customer"], plan=data["plan"])
            except BillingError as error:
                self.add_error("plan", error.message)
        if data.get("quantity") is not None:
            try:
                subscription_validate_quantity(quantity=data["quantity"])
            except BillingError as error:
                self.add_error("quantity", error.message)
        return data

    def _post_clean(self):
        # The instance is built by the service on save; model validation needs its dates.
        pass


@admin.register(Subscription)
class SubscriptionAdmin(SubscriptionStaffActionsMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "public_id",
        "organization_name",
        "customer",
        "plan",
        "quantity",
        "status",
        "current_period_end",
    )
    list_filter = ("status", "plan__kind", "plan__interval")
    search_fields = ("public_id", "organization_name", "customer__name", "customer__contact__email")
    list_select_related = ("customer", "plan")
    # Quantity, plan, status and periods move only through the subscription services
    # (staff actions with confirmation pages), never by editing the row.
    readonly_fields = (
        "public_id",
        "customer",
        "organization",
        "organization_name",
        "plan",
        "quantity",
        "pending_quantity",
        "status",
        "billing_day",
        "billing_month",
        "current_period_start",
        "current_period_end",
        "created_at",
        "cancelled_at",
        "audit_history",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return SubscriptionAddForm.Meta.fields
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            created = subscription_create(
                customer=data["customer"],
                organization_name=data["organization_name"],
                plan=data["plan"],
                quantity=data["quantity"],
                start=data["start"],
                actor=request.user,
            )
        except BillingError as error:  # pragma: no cover - the form validated the same rules
            messages.error(request, error.message)
            raise
        obj.pk = created.pk


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ("description", "quantity", "unit_price", "amount", "period_start", "period_end")

    def has_change_permission(self, request, obj=None):
        return obj is None or not obj.is_finalized

    def has_add_permission(self, request, obj=None):
        return obj is None or not obj.is_finalized

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_finalized


# A name search matching more customers than this lists the invoices of the first ones.
INVOICE_SEARCH_CUSTOMERS = 200


@admin.register(Invoice)
class InvoiceAdmin(InvoiceStaffActionsMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "customer",
        "kind",
        "status",
        "total",
        "issued_on",
        "due_on",
        "paid_at",
    )
    # Stays fast with hundreds of thousands of invoices: the default ordering (Meta) reads
    # the (-issued_on, -id) index, the issued_on filter gives date ranges (no
    # date_hierarchy: it reads the distinct dates of the whole table), no second count of
    # the unfiltered table, and the search uses indexes only (get_search_results).
    list_filter = ("status", "kind", "currency", "issued_on")
    search_fields = ("number", "customer__name", "subscription__public_id")
    search_help_text = (
        "An invoice number or its beginning (CAJ-2026-00), a subscription ID (SUB-…), or "
        "a customer name or its beginning."
    )
    show_full_result_count = False
    list_select_related = ("customer",)
    inlines = [InvoiceLineInline]
    readonly_fields = (
        "number",
        "status",
        "subtotal",
        "credit_applied",
        "vat_rate",
        "vat_amount",
        "total",
        "vat_note",
        "bill_to",
        "issued_on",
        "due_on",
        "paid_at",
        "created_at",
        "audit_history",
    )

    def get_search_results(self, request, queryset, search_term):
        """Indexed lookups only, never `icontains` on the invoices: the number by prefix
        (`LIKE 'CAJ-2026-00%'` on the varchar_pattern_ops index), the subscription by its
        exact public ID, the customer by name prefix (the customers are a small table) and
        then its invoices by the customer_id index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        code = "".join(term.split()).upper()
        customer_ids = list(
            Customer.objects.filter(name__istartswith=term).values_list("pk", flat=True)[
                :INVOICE_SEARCH_CUSTOMERS
            ]
        )
        subscription_ids = list(
            Subscription.objects.filter(public_id=code).values_list("pk", flat=True)
        )
        found = (
            Q(number__startswith=code)
            | Q(subscription_id__in=subscription_ids)
            | Q(customer_id__in=customer_ids)
        )
        return queryset.filter(found), False

    def has_change_permission(self, request, obj=None):
        # Finalized invoices are legal records: read-only; corrections are credit notes.
        if obj is not None and obj.is_finalized:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_finalized:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(NumberSequence)
class NumberSequenceAdmin(admin.ModelAdmin):
    list_display = ("series", "year", "last_number")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: listed and searchable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer", "amount", "reason", "invoice")
    list_filter = ("created_at",)
    search_fields = ("customer__name", "reason", "invoice__number")
    list_select_related = ("customer", "invoice")


@admin.register(BalanceEntry)
class BalanceEntryAdmin(ReadOnlyAdmin):
    """The prepaid balance's ledger: written only by billing/services/balance.py (a bank
    transfer: "Adjust balance" on the customer's page)."""

    list_display = (
        "created_at",
        "customer",
        "kind",
        "instance",
        "amount",
        "balance_after",
        "automatic",
        "reason",
    )
    list_filter = ("kind", "automatic", "created_at")
    search_fields = ("customer__name", "reason", "instance__name", "idempotency_key")
    list_select_related = ("customer", "instance")


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ("number", "customer", "invoice", "total", "issued_on")
    list_filter = ("issued_on",)
    search_fields = ("number", "customer__name", "invoice__number")
    list_select_related = ("customer", "invoice")


@admin.register(InvoiceReminder)
class InvoiceReminderAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "stage_days", "sent_at")
    search_fields = ("invoice__number",)


@admin.register(Payment)
class PaymentAdmin(PaymentStaffActionsMixin, AuditHistoryMixin, ReadOnlyAdmin):
    """Every payment attempt, written only by the payment services; "Refund…" on a
    succeeded one (admin_staff_actions.PaymentStaffActionsMixin)."""

    list_display = (
        "pk",
        "customer",
        "invoice",
        "amount_display",
        "method_kind",
        "gateway",
        "status",
        "created_at",
    )
    list_filter = ("status", "gateway", "method_kind")
    search_fields = ("invoice__number", "gateway_ref", "customer__name")
    list_select_related = ("customer", "invoice")
    date_hierarchy = "created_at"
    fields = (
        "customer",
        "invoice",
        "kind",
        "amount",
        "currency",
        "refunded",
        "method",
        "method_kind",
        "gateway",
        "gateway_ref",
        "status",
        "error_code",
        "error_message",
        "attempt",
        "idempotency_key",
        "off_session",
        "action_url",
        "created_at",
        "updated_at",
        "succeeded_at",
        "refunds_list",
        "audit_history",
    )
    readonly_fields = fields

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount} {obj.currency}"

    @admin.display(description="Refunds")
    def refunds_list(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = format_html_join(
            "",
            "<li>{} {} {}: {} (credit note {}, {})</li>",
            (
                (
                    f"{refund.created_at:%Y-%m-%d %H:%M}",
                    refund.amount,
                    obj.currency,
                    refund.get_destination_display(),
                    refund.credit_note.number if refund.credit_note else "-",
                    refund.reason,
                )
                for refund in obj.refunds.select_related("credit_note")
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "None"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    """Every gateway event, as received, and what was done with it."""

    list_display = ("received_at", "provider", "type", "event_id", "outcome")
    list_filter = ("provider", "received_at")
    search_fields = ("event_id", "type")
    date_hierarchy = "received_at"
    fields = ("provider", "event_id", "type", "received_at", "processed_at", "outcome", "payload")
    readonly_fields = fields
