from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from portal.views import auth, organizations, pages

# Staff hold the keys to every customer: the admin asks for a TOTP code after the password.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "CAJ billing back office"
admin.site.site_title = "CAJ back office"

portal_patterns = [
    path("", pages.home, name="home"),
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("subscriptions/", pages.subscriptions, name="subscriptions"),
    path("invoices/", pages.invoices, name="invoices"),
    path(
        "organizations/<int:pk>/",
        organizations.organization_detail,
        name="organization",
    ),
    path(
        "payment-method/",
        pages.not_yet_available,
        {"title": "Payment Method", "nav": "payment"},
        name="payment_method",
    ),
    path(
        "balance/",
        pages.not_yet_available,
        {"title": "Account balance", "nav": "balance"},
        name="balance",
    ),
    path(
        "instances/",
        pages.not_yet_available,
        {"title": "Instances", "nav": "instances"},
        name="instances",
    ),
    path(
        "account/",
        pages.not_yet_available,
        {"title": "Account Information", "nav": "account"},
        name="account",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/mdm/", include("fleet.api_urls")),
    path("", include((portal_patterns, "portal"))),
]
