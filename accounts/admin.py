from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.contact import contact_requests_mark_handled
from accounts.models import ContactRequest, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active")
    search_fields = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")


@admin.register(ContactRequest)
class ContactRequestAdmin(admin.ModelAdmin):
    """Read-only: what visitors wrote. Staff only mark requests handled (audited)."""

    list_display = ("created_at", "company", "name", "email", "wants_contract", "handled_at")
    list_filter = ("wants_contract", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("company", "name", "email", "message")
    date_hierarchy = "created_at"
    actions = ("mark_handled",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark selected contact requests as handled")
    def mark_handled(self, request, queryset):
        count = contact_requests_mark_handled(requests=queryset, actor=request.user)
        self.message_user(request, f"{count} contact request(s) marked as handled.")
