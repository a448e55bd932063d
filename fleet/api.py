"""The MDM platform's JSON API. Views only parse, call fleet's selectors and services, and
answer; every error is `{"code": ..., "message": ...}` (see api_errors.py)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.api_auth import ApiKeyAuthentication, HasApiKey
from fleet.api_errors import api_exception_handler
from fleet.api_serializers import (
    DeviceListQuerySerializer,
    DeviceMoveSerializer,
    DevicePageSerializer,
    DeviceRegisterSerializer,
    DeviceSerializer,
    ErrorSerializer,
    OrganizationSerializer,
)
from fleet.models import SERIAL_PATTERN, Device, Organization
from fleet.selectors import (
    organization_device_by_serial,
    organization_devices,
    organization_status,
)
from fleet.services.devices import device_move, device_register

# The largest id a bigint primary key holds; larger numbers are simply not found.
_MAX_ID = 2**63 - 1

_ORGANIZATION_ID = OpenApiParameter(
    "organization_id",
    {"type": "integer", "format": "int64", "minimum": 1, "maximum": _MAX_ID},
    OpenApiParameter.PATH,
    description="The organization's id (the MDM organization this portal bills).",
)
_SERIAL = OpenApiParameter(
    "serial",
    {"type": "string", "pattern": SERIAL_PATTERN, "maxLength": 64},
    OpenApiParameter.PATH,
    description="The device's serial number.",
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


_UNAUTHORIZED = _error("No API key, a malformed one, or an unknown or deactivated key.")
_NOT_FOUND = _error("No such organization (or device in it).")
_BAD_REQUEST = _error("Invalid parameters, body or malformed JSON; `errors` says which field.")
_UNSUPPORTED = _error("The body is not JSON (send `Content-Type: application/json`).")
_LOCKED = _error(
    "The organization's mode forbids this change (read-only: an invoice is overdue; paused; "
    "cancelled; restricted: more devices in the field than licences, only moves out of the "
    "field are allowed). `message` says why and what to do."
)


class MdmApiView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    # No OPTIONS metadata: a method the schema does not list answers 405.
    metadata_class = None

    def get_exception_handler(self):
        return api_exception_handler

    @property
    def actor(self) -> str:
        return self.request.user.audit_label

    def get_organization(self, organization_id: str) -> Organization:
        if not organization_id.isdigit() or not 0 < int(organization_id) <= _MAX_ID:
            raise Http404(f"No organization with id {organization_id}.")
        try:
            return Organization.objects.get(pk=int(organization_id))
        except Organization.DoesNotExist:
            raise Http404(f"No organization with id {organization_id}.") from None

    def get_device(self, organization: Organization, serial: str) -> Device:
        try:
            return organization_device_by_serial(organization=organization, serial=serial)
        except Device.DoesNotExist:
            raise Http404(
                f"No device with serial number {serial} in organization {organization.pk}."
            ) from None


class OrganizationView(MdmApiView):
    @extend_schema(
        operation_id="organization_read",
        summary="What an organization may do now",
        description=(
            "Its mode (active, restricted, read_only, paused, cancelled) and why, its licences, "
            "its devices per state, and which changes are allowed now."
        ),
        parameters=[_ORGANIZATION_ID],
        responses={200: OrganizationSerializer, 401: _UNAUTHORIZED, 404: _NOT_FOUND},
    )
    def get(self, request, organization_id: str):
        organization = self.get_organization(organization_id)
        return Response(OrganizationSerializer(organization_status(organization=organization)).data)


class DeviceListView(MdmApiView):
    @extend_schema(
        operation_id="devices_list",
        summary="List an organization's devices",
        description="By serial number, a page at a time; filter by state or part of a serial.",
        parameters=[_ORGANIZATION_ID, DeviceListQuerySerializer],
        responses={
            200: DevicePageSerializer,
            400: _BAD_REQUEST,
            401: _UNAUTHORIZED,
            404: _NOT_FOUND,
        },
    )
    def get(self, request, organization_id: str):
        organization = self.get_organization(organization_id)
        # A plain dict, not the QueryDict: DRF reads "?state=" from a QueryDict as "not sent",
        # the schema says an empty value is invalid.
        query = DeviceListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        page, size = query.validated_data["page"], query.validated_data["page_size"]
        devices = organization_devices(
            organization=organization,
            state=query.validated_data.get("state"),
            serial_search=query.validated_data.get("serial", ""),
        )
        count = devices.count()
        start = (page - 1) * size
        results = devices[start : start + size]
        body = {
            "count": count,
            "page": page,
            "page_size": size,
            "next_page": page + 1 if start + size < count else None,
            "results": [_device_data(device) for device in results],
        }
        return Response(DevicePageSerializer(body).data)

    @extend_schema(
        operation_id="devices_register",
        summary="Register a device",
        description=(
            "Adds a device, In stock unless `state` says otherwise. Refused with 409 when the "
            "serial number is already registered or when it would go into the field with every "
            "licence in use; 423 when the organization's mode allows no change."
        ),
        parameters=[_ORGANIZATION_ID],
        request=DeviceRegisterSerializer,
        responses={
            201: DeviceSerializer,
            400: _BAD_REQUEST,
            401: _UNAUTHORIZED,
            404: _NOT_FOUND,
            409: _error("The serial number is already registered, or every licence is in use."),
            415: _UNSUPPORTED,
            423: _LOCKED,
        },
    )
    def post(self, request, organization_id: str):
        organization = self.get_organization(organization_id)
        body = DeviceRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = device_register(organization=organization, actor=self.actor, **body.validated_data)
        return Response(_device_data(device), status=status.HTTP_201_CREATED)


class DeviceView(MdmApiView):
    @extend_schema(
        operation_id="device_read",
        summary="Read one device",
        parameters=[_ORGANIZATION_ID, _SERIAL],
        responses={200: DeviceSerializer, 401: _UNAUTHORIZED, 404: _NOT_FOUND},
    )
    def get(self, request, organization_id: str, serial: str):
        organization = self.get_organization(organization_id)
        return Response(_device_data(self.get_device(organization, serial)))


class DeviceStateView(MdmApiView):
    @extend_schema(
        operation_id="device_move",
        summary="Move a device to a state",
        description=(
            "Moves the device to `state`. Repeating a move is a no-op that answers 200. Into "
            "the field needs a free licence on a Core plan (409 `licences_exhausted` "
            "otherwise). 423 when the organization's mode forbids the move: read-only, paused "
            "and cancelled forbid every move; restricted allows only moves out of the field."
        ),
        parameters=[_ORGANIZATION_ID, _SERIAL],
        request=DeviceMoveSerializer,
        responses={
            200: DeviceSerializer,
            400: _BAD_REQUEST,
            401: _UNAUTHORIZED,
            404: _NOT_FOUND,
            409: _error("Every licence is in use (`licences_exhausted`)."),
            415: _UNSUPPORTED,
            423: _LOCKED,
        },
    )
    def put(self, request, organization_id: str, serial: str):
        organization = self.get_organization(organization_id)
        device = self.get_device(organization, serial)
        body = DeviceMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = device_move(device=device, state=body.validated_data["state"], actor=self.actor)
        return Response(_device_data(device))


class NotFoundView(MdmApiView):
    """Any other path under the API answers JSON, never Django's HTML 404 page."""

    schema = None  # Not an operation of the API.

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # Authenticates first: 401 before 404.
        raise Http404("There is nothing at this address of the MDM API.")


def _device_data(device: Device) -> dict:
    return DeviceSerializer(
        {
            "serial": device.serial,
            "model_name": device.model_name,
            "state": device.state,
            "organization_id": device.organization_id,
            "updated_at": device.updated_at,
        }
    ).data
