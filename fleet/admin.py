from django.contrib import admin

from audit.admin import AuditHistoryMixin
from fleet.models import Device, Organization


class DeviceInline(admin.TabularInline):
    model = Device
    fields = ("serial", "model_name", "state")
    readonly_fields = ("serial", "model_name", "state")
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(AuditHistoryMixin, admin.ModelAdmin):
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

    def get_readonly_fields(self, request, obj=None):
        # State moves go through the fleet state machine (licence checks), not this form.
        if obj is not None:
            return ("state", "organization", *self.readonly_fields)
        return self.readonly_fields
