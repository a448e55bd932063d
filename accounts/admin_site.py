"""The admin site: django-otp's OTPAdminSite (staff must be verified by a TOTP device),
with a one-step login page (accounts.forms.StaffLoginForm)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp.admin import OTPAdminSite

from accounts.forms import StaffLoginForm


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"
    index_template = "admin/staff_index.html"
    # Back-office pages that are no model's, added by the apps above accounts (accounts
    # imports none of them): (route, view, url name, title). Staff only, like every admin
    # page, and linked from the admin index. E.g. portal/admin.py's health page.
    extra_views: list[tuple] = []

    def get_urls(self):
        extra = [
            path(route, self.admin_view(view), name=name)
            for route, view, name, _title in self.extra_views
        ]
        return extra + super().get_urls()  # before the admin's catch-all app_label route

    def index(self, request, extra_context=None):
        pages = [(f"{self.name}:{name}", title) for _route, _view, name, title in self.extra_views]
        return super().index(request, {"staff_pages": pages, **(extra_context or {})})

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if getattr(form, "rate_limited", False):
            response.status_code = 429
        return response
