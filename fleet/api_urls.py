"""Routes of the MDM API, included at /api/mdm/ by portal/urls.py."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from fleet import api

app_name = "mdm_api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "organizations/<str:organization_id>/", api.OrganizationView.as_view(), name="organization"
    ),
    path(
        "organizations/<str:organization_id>/devices/",
        api.DeviceListView.as_view(),
        name="devices",
    ),
    path(
        "organizations/<str:organization_id>/devices/<str:serial>/",
        api.DeviceView.as_view(),
        name="device",
    ),
    path(
        "organizations/<str:organization_id>/devices/<str:serial>/state/",
        api.DeviceStateView.as_view(),
        name="device_state",
    ),
    re_path(r"^.*$", api.NotFoundView.as_view(), name="not_found"),
]
