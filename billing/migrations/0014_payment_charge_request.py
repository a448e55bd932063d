# Issue 16, item 2: a saved-method charge stores what it sent, so a retry under the same
# idempotency key sends the same parameters (Stripe refuses other ones).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_nightly_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="charge_request",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
    ]
