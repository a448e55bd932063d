"""The portal's admin pages that are no model's, on the staff admin site."""

from accounts.admin_site import StaffAdminSite
from portal.admin_health import nightly_health_view

StaffAdminSite.extra_views.append(
    ("nightly-health/", nightly_health_view, "nightly-health", "Workers and nightly runs")
)
