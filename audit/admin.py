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
