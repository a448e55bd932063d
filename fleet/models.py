"""MDM organizations and their devices.

fleet imports neither billing nor portal: billing writes what the MDM must know
(licences, whether the subscription is paused, cancelled or overdue) onto these
rows through fleet.services.organizations, and fleet derives the mode from them.
"""

from django.core.validators import RegexValidator
from django.db import models

from accounts.text import text_fields_validate

# Serial numbers travel in URLs of the MDM API: letters, digits, dot, dash, underscore.
SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
serial_validator = RegexValidator(
    SERIAL_PATTERN,
    "A serial number has 1 to 64 letters, digits, dots, dashes or underscores, "
    "and starts with a letter or a digit.",
)


class OrganizationMode(models.TextChoices):
    ACTIVE = "active", "Active"
    RESTRICTED = "restricted", "Restricted"
    READ_ONLY = "read_only", "Read-only"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"


class Organization(models.Model):
    name = models.CharField(max_length=200)
    # Core plans sell licences: one per device in the field. Legacy plans have no cap.
    licensed = models.BooleanField(default=True)
    licence_count = models.PositiveIntegerField(default=0)
    # Inputs written by billing; the mode is derived from them (see services/modes.py).
    is_paused = models.BooleanField(default=False)
    is_cancelled = models.BooleanField(default=False)
    has_overdue_invoice = models.BooleanField(default=False)
    mode = models.CharField(
        max_length=20, choices=OrganizationMode.choices, default=OrganizationMode.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"name": "organization name"})


class DeviceState(models.TextChoices):
    IN_THE_FIELD = "in_the_field", "In the field"
    IN_STOCK = "in_stock", "In stock"
    IN_REPAIR = "in_repair", "In repair"


class Device(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="devices")
    serial = models.CharField(
        max_length=64,
        unique=True,
        validators=[serial_validator],
        error_messages={
            "unique": "A device with this serial number is already registered.",
        },
    )
    model_name = models.CharField(max_length=100, blank=True)
    state = models.CharField(
        max_length=20, choices=DeviceState.choices, default=DeviceState.IN_STOCK
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("serial",)
        indexes = [
            models.Index(fields=["organization", "state"]),
            # The portal's device list of an organization, by serial, one page at a time.
            models.Index(fields=["organization", "serial", "id"], name="device_org_serial"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=DeviceState.values), name="device_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.serial


class ApiKey(models.Model):
    """A key the MDM platform sends in `Authorization: Api-Key <prefix>.<secret>`.

    Only the SHA-256 of the whole key is stored: the raw key is shown once, when staff
    create it. The prefix is not secret; it finds the row without scanning every hash.
    """

    name = models.CharField(max_length=100, help_text="Which MDM platform uses this key.")
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    # Hex SHA-256 of the raw key (64 characters).
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("name", "id")
        verbose_name = "MDM API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# ---- cloud DMS instances -------------------------------------------------------------
# Prices are daily, in EUR (the only currency instances are sold in for now: billing
# refuses an instance for a customer billed in another currency). The money rules (the
# prepaid balance, what each move costs) live in billing.services.instances; fleet only
# holds the state.

DAILY_PRICE = {"max_digits": 12, "decimal_places": 4}


class InstancePackage(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    daily_price = models.DecimalField(**DAILY_PRICE, help_text="EUR per day.")
    price_per_cpe_device = models.DecimalField(
        **DAILY_PRICE, default=0, help_text="EUR per expected CPE device per day."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive packages are not offered.")

    class Meta:
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(daily_price__gte=0) & models.Q(price_per_cpe_device__gte=0),
                name="instance_package_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InstanceOption(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    daily_price = models.DecimalField(**DAILY_PRICE, help_text="EUR per day.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(daily_price__gte=0), name="instance_option_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Instance(models.Model):
    """A cloud DMS deployment, billed daily from the customer's prepaid balance."""

    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.PROTECT, related_name="instances"
    )
    name = models.CharField(max_length=100)
    package = models.ForeignKey(InstancePackage, on_delete=models.PROTECT, related_name="+")
    expected_cpe_devices = models.PositiveIntegerField(default=0)
    # Option codes (InstanceOption.code), sorted, each once.
    options = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=False)
    # Paid up to here (exclusive). Re-enabling before it is free.
    paid_until = models.DateTimeField(null=True, blank=True)
    # The daily price the time left until paid_until was paid at (what a cheaper setting
    # can give back, pro rata).
    paid_daily_price = models.DecimalField(**DAILY_PRICE, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("customer", "created_at", "id")
        indexes = [
            models.Index(fields=["customer", "created_at", "id"], name="instance_billing_order"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(paid_daily_price__gte=0), name="instance_paid_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"name": "instance name"})
