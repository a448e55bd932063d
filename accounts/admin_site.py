"""The admin site: django-otp's OTPAdminSite (staff must be verified by a TOTP device),
with a one-step login page (accounts.forms.StaffLoginForm)."""

from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp.admin import OTPAdminSite

from accounts.forms import StaffLoginForm


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if getattr(form, "rate_limited", False):
            response.status_code = 429
        return response
