"""Request and response shapes of the MDM API. They are the OpenAPI schema's source."""

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fleet.models import SERIAL_PATTERN, DeviceState, OrganizationMode, serial_validator

# Page sizes of the device list, in devices.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Deep enough for any organization (100,000 licences at the smallest page size of 1 would
# need more, but a client pages with a real size); keeps SQL offsets small.
MAX_PAGE = 100_000

# Printable text: no control characters (PostgreSQL refuses NUL in text).
_printable = RegexValidator(
    r"^[^\x00-\x1f\x7f]*$", "Use printable characters only (no control characters)."
)


class StrictCharField(serializers.CharField):
    """Text only: DRF would turn a JSON number into text, the schema says string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """Digits only in a query string: DRF would also take "1.0" and " 1"."""

    def to_internal_value(self, data):
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "maxLength": 100, "pattern": _printable.regex.pattern, "default": ""}
)
class ModelNameField(StrictCharField):
    """Optional printable text; described by hand so the schema has no ambiguous oneOf."""

    def __init__(self, **kwargs):
        # allow_blank stays False (the schema generator would describe blank as a second,
        # overlapping oneOf branch); run_validation lets "" through instead.
        super().__init__(
            required=False,
            default="",
            max_length=100,
            trim_whitespace=False,
            validators=[_printable],
            **kwargs,
        )

    def run_validation(self, data=serializers.empty):
        if data == "":
            return ""
        return super().run_validation(data)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable reason.")
    message = serializers.CharField(help_text="What went wrong and what to do, for a person.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per field messages, when the request body or query was invalid.",
    )


class DeviceCountsSerializer(serializers.Serializer):
    in_the_field = serializers.IntegerField(min_value=0)
    in_stock = serializers.IntegerField(min_value=0)
    in_repair = serializers.IntegerField(min_value=0)
    total = serializers.IntegerField(min_value=0)


class AllowedSerializer(serializers.Serializer):
    can_change = serializers.BooleanField(
        help_text="Any change is allowed: register devices and move them in any direction."
    )
    can_add_to_field = serializers.BooleanField(
        help_text="One more device may go into the field now."
    )
    can_remove_from_field = serializers.BooleanField(
        help_text="Devices may leave the field (also in restricted mode)."
    )


class OrganizationSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="organization.pk")
    name = serializers.CharField(source="organization.name")
    mode = serializers.ChoiceField(choices=OrganizationMode.choices)
    reason = serializers.CharField(help_text="Why the organization is in this mode, what to do.")
    licensed = serializers.BooleanField(
        help_text="Core plan: devices in the field are capped by licences. False: no cap."
    )
    licence_count = serializers.IntegerField(min_value=0)
    licences_in_use = serializers.IntegerField(source="in_field", min_value=0)
    licences_free = serializers.IntegerField(
        min_value=0, allow_null=True, help_text="Null when there is no licence cap."
    )
    devices = DeviceCountsSerializer(source="counts_with_total")
    allowed = AllowedSerializer(source="*")


class DeviceSerializer(serializers.Serializer):
    serial = serializers.CharField()
    model_name = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=DeviceState.choices)
    organization_id = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class DevicePageSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0, help_text="Devices matching the filters.")
    page = serializers.IntegerField(min_value=1)
    page_size = serializers.IntegerField(min_value=1)
    next_page = serializers.IntegerField(allow_null=True, min_value=2)
    results = DeviceSerializer(many=True)


class DeviceListQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=DeviceState.choices, required=False)
    serial = serializers.CharField(
        required=False,
        max_length=64,
        trim_whitespace=False,
        validators=[_printable],
        help_text="Part of a serial number, any case.",
    )
    page = StrictIntegerField(required=False, default=1, min_value=1, max_value=MAX_PAGE)
    page_size = StrictIntegerField(
        required=False, default=DEFAULT_PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE
    )


class DeviceRegisterSerializer(serializers.Serializer):
    serial = StrictCharField(
        max_length=64,
        trim_whitespace=False,
        validators=[serial_validator],
        help_text=f"Unique across all organizations; pattern {SERIAL_PATTERN}.",
    )
    model_name = ModelNameField(help_text="The device model, free text.")
    state = serializers.ChoiceField(
        choices=DeviceState.choices,
        required=False,
        default=DeviceState.IN_STOCK,
        help_text="In stock unless said; In the field needs a free licence.",
    )


class DeviceMoveSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=DeviceState.choices)
