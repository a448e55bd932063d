from django import forms
from django.contrib import admin, messages

from accounts.text import NoControlCharactersFormMixin
from audit.admin import AuditedChangesMixin, AuditHistoryMixin
from fleet.errors import FleetError
from fleet.models import (
    ApiKey,
    Device,
    DeviceState,
    Instance,
    InstanceOption,
    InstancePackage,
    Organization,
)
from fleet.services.api_keys import api_key_create, api_key_deactivate
from fleet.services.devices import device_move, device_register


class DeviceAddForm(forms.ModelForm):
    """Adding a device goes through fleet's service (mode and licence rules, audit); a
    refusal shows on the form. The admin's request wraps it all in one transaction."""

    actor = None  # The staff user, set by DeviceAdmin.get_form.

    class Meta:
        model = Device
        fields = ("organization", "serial", "model_name", "state")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.instance = device_register(
                organization=cleaned["organization"],
                serial=cleaned["serial"],
                model_name=cleaned.get("model_name", ""),
                state=cleaned["state"],
                actor=self.actor,
            )
        except FleetError as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from refused
        return cleaned


class DeviceInline(admin.TabularInline):
    model = Device
    fields = ("serial", "model_name", "state")
    readonly_fields = ("serial", "model_name", "state")
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrganizationForm(NoControlCharactersFormMixin, forms.ModelForm):
    control_character_labels = {"name": "organization name"}

    class Meta:
        model = Organization
        fields = ("name",)  # the rest is read-only (OrganizationAdmin.readonly_fields)


@admin.register(Organization)
class OrganizationAdmin(AuditedChangesMixin, AuditHistoryMixin, admin.ModelAdmin):
    form = OrganizationForm
    list_display = ("name", "mode", "licensed", "licence_count", "is_paused", "has_overdue_invoice")
    list_filter = ("mode", "licensed", "is_paused", "is_cancelled", "has_overdue_invoice")
    search_fields = ("name",)
    # Billing owns these inputs and the mode is derived: staff change them through the
    # subscription's actions, never by hand.
    readonly_fields = (
        "licensed",
        "licence_count",
        "is_paused",
        "is_cancelled",
        "has_overdue_invoice",
        "mode",
        "created_at",
        "updated_at",
        "audit_history",
    )
    inlines = [DeviceInline]


@admin.register(Device)
class DeviceAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("serial", "organization", "model_name", "state", "updated_at")
    list_filter = ("state", "organization")
    search_fields = ("serial", "model_name", "organization__name")
    list_select_related = ("organization",)
    readonly_fields = ("created_at", "updated_at", "audit_history")
    actions = ["move_to_in_the_field", "move_to_in_stock", "move_to_in_repair"]

    def _move_selected(self, request, queryset, state: str) -> None:
        """Moves each device through the state machine (licences, mode); says per device
        what was refused and why."""
        moved = 0
        for device in queryset.select_related("organization").order_by("serial"):
            try:
                device_move(device=device, state=state, actor=request.user)
                moved += 1
            except FleetError as refused:
                self.message_user(request, f"{device.serial}: {refused.message}", messages.ERROR)
        if moved:
            label = DeviceState(state).label
            self.message_user(request, f"{moved} device(s) now {label.lower()}.", messages.SUCCESS)

    @admin.action(description="Move selected devices to In the field", permissions=["change"])
    def move_to_in_the_field(self, request, queryset):
        self._move_selected(request, queryset, DeviceState.IN_THE_FIELD)

    @admin.action(description="Move selected devices to In stock", permissions=["change"])
    def move_to_in_stock(self, request, queryset):
        self._move_selected(request, queryset, DeviceState.IN_STOCK)

    @admin.action(description="Move selected devices to In repair", permissions=["change"])
    def move_to_in_repair(self, request, queryset):
        self._move_selected(request, queryset, DeviceState.IN_REPAIR)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DeviceAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # On add, DeviceAddForm.clean has registered it through the service already.

    def get_readonly_fields(self, request, obj=None):
        # State moves go through the fleet state machine (licence checks), not this form.
        if obj is not None:
            return ("state", "organization", *self.readonly_fields)
        return self.readonly_fields


@admin.register(ApiKey)
class ApiKeyAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """MDM API keys: the raw key is shown once, in a message, right after creation."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    fields = ("name", "prefix", "is_active", "created_at", "last_used_at", "audit_history")
    readonly_fields = ("prefix", "is_active", "created_at", "last_used_at", "audit_history")
    actions = ["deactivate"]

    def get_fields(self, request, obj=None):
        return ("name",) if obj is None else self.fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created, raw_key = api_key_create(name=form.cleaned_data["name"], actor=request.user)
        # The admin goes on with `obj` (log entry, redirect): make it the created row.
        obj.pk = created.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"The API key for {created.name} is {raw_key} . Copy it now: it is stored hashed "
            "and will not be shown again. The MDM sends it as 'Authorization: Api-Key <key>'.",
            messages.WARNING,
        )

    @admin.action(description="Deactivate selected keys", permissions=["change"])
    def deactivate(self, request, queryset):
        for api_key in queryset:
            api_key_deactivate(api_key=api_key, actor=request.user)
        self.message_user(request, f"{queryset.count()} key(s) deactivated.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Keys are deactivated, not deleted: the audit trail names them.
        return False


# ---- cloud instances ---------------------------------------------------------------------
# Prices (EUR per day) are edited here; each change is audited with its before and after.
# A new price applies from the next nightly run and to the next change or enable; what an
# instance already paid for its current day is not charged again.


@admin.register(InstancePackage)
class InstancePackageAdmin(AuditedChangesMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("code", "name", "daily_price", "price_per_cpe_device", "is_active")
    fields = ("code", "name", "daily_price", "price_per_cpe_device", "is_active", "audit_history")
    readonly_fields = ("audit_history",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InstanceOption)
class InstanceOptionAdmin(AuditedChangesMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("code", "name", "daily_price", "is_active")
    fields = ("code", "name", "daily_price", "is_active", "audit_history")
    readonly_fields = ("audit_history",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Instance)
class InstanceAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Read-only: instances move through billing.services.instances (money rules)."""

    list_display = ("name", "customer", "package", "expected_cpe_devices", "enabled", "paid_until")
    list_filter = ("enabled", "package")
    search_fields = ("name", "customer__name")
    readonly_fields = (
        "customer",
        "name",
        "package",
        "expected_cpe_devices",
        "options",
        "enabled",
        "paid_until",
        "paid_daily_price",
        "created_at",
        "audit_history",
    )
    exclude = ("updated_at",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
