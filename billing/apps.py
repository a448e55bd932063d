from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from django.db.models import Field, ForeignObject

        from billing.lookups import InIds

        # Foreign keys keep their own lookups apart from other fields': both need it.
        Field.register_lookup(InIds)
        ForeignObject.register_lookup(InIds)
