from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "target_type", "target_repr")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "target_repr", "target_id", "action")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditHistoryMixin:
    """Adds a read-only "Audit history" block to a model's change page."""

    @admin.display(description="Audit history")
    def audit_history(self, obj):
        from django.utils.html import format_html, format_html_join
        from django.utils.safestring import mark_safe

        from audit.selectors import audit_entries_for

        if obj is None or obj.pk is None:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.actor_label, e.action, e.before, e.after)
                for e in audit_entries_for(target=obj)[:100]
            ),
        )
        return format_html(
            '<table class="audit-history"><thead><tr><th>When (UTC)</th><th>Who</th>'
            "<th>What</th><th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>",
            rows or mark_safe("<tr><td colspan=5>No entries yet.</td></tr>"),
        )


def _audit_value(value):
    """Money as "4.50 EUR", model instances by id, the rest as audit_record keeps it."""
    from djmoney.money import Money

    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    return value


class AuditedChangesMixin:
    """Every staff add or change through the model's admin form writes one audit row
    ("<model>.create_by_staff" / "<model>.update_by_staff") with the before and after
    of the fields the form changed. A change writes only those fields."""

    def save_model(self, request, obj, form, change):
        from audit.services import audit_record

        model_fields = {field.name for field in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in model_fields]
        label = obj._meta.model_name
        if not change:
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                action=f"{label}.create_by_staff",
                target=obj,
                after={name: _audit_value(getattr(obj, name)) for name in changed},
            )
            return
        if not changed:
            return
        stored = type(obj)._default_manager.get(pk=obj.pk)
        before = {name: _audit_value(getattr(stored, name)) for name in changed}
        auto_now = [
            field.name for field in obj._meta.concrete_fields if getattr(field, "auto_now", False)
        ]
        # A MoneyField's currency is its own column, "<name>_currency".
        currencies = [f"{name}_currency" for name in changed if f"{name}_currency" in model_fields]
        obj.save(update_fields=[*changed, *currencies, *auto_now])
        audit_record(
            actor=request.user,
            action=f"{label}.update_by_staff",
            target=obj,
            before=before,
            after={name: _audit_value(getattr(obj, name)) for name in changed},
        )
