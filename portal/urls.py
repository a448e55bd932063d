from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from portal.views import account, auth, pages

# Staff hold the keys to every customer: the admin asks for a TOTP code after the password.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "CAJ billing back office"
admin.site.site_title = "CAJ back office"

portal_patterns = [
    path("", pages.home, name="home"),
    path("login/", auth.login, name="login"),
    path("login/code/", auth.login_code, name="login_code"),
    path("login/code/resend/", auth.login_code_resend, name="login_code_resend"),
    path("login/password/", auth.login_password, name="login_password"),
    path("logout/", auth.logout, name="logout"),
    path("subscriptions/", pages.subscriptions, name="subscriptions"),
    path("invoices/", pages.invoices, name="invoices"),
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
    path("account/", account.account, name="account"),
    path("account/password/", account.account_password, name="account_password"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include((portal_patterns, "portal"))),
]
