"""Login pages: by e-mailed code (two steps) or by password. The rules are in portal/auth.py."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts.client_ip import client_ip
from portal.auth import (
    LoginError,
    login_code_request,
    login_code_validity_minutes,
    login_code_verify,
    login_normalize_email,
    login_password_check,
)
from portal.context import current_customer
from portal.forms import CodeForm, CodeRequestForm, PasswordLoginForm

# The address being logged in between step 1 and step 2, and where to go afterwards.
SESSION_EMAIL = "portal_login_email"
SESSION_NEXT = "portal_login_next"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _status(error: LoginError) -> int:
    return 429 if error.rate_limited else 200


@require_http_methods(["GET", "POST"])
def login(request):
    """Step 1: the address. Always the same answer, known address or not."""
    if current_customer(request) is not None:
        return redirect("portal:home")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = CodeRequestForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        email = login_normalize_email(email=form.cleaned_data["email"])
        try:
            login_code_request(email=email, client_ip=client_ip(request))
        except LoginError as error:
            form.add_error(None, error.message)
            status = _status(error)
        else:
            request.session[SESSION_EMAIL] = email
            request.session[SESSION_NEXT] = next_url
            return redirect("portal:login_code")
    return render(request, "portal/login.html", {"form": form, "next": next_url}, status=status)


@require_http_methods(["GET", "POST"])
def login_code(request):
    """Step 2: the code from the e-mail."""
    email = request.session.get(SESSION_EMAIL)
    if not email:
        return redirect("portal:login")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            device = login_code_verify(email=email, code=form.cleaned_data["code"])
        except LoginError as error:
            form.add_error("code", error.message)
        else:
            next_url = request.session.get(SESSION_NEXT) or resolve_url(settings.LOGIN_REDIRECT_URL)
            # Rotates the session id; the device marks the session as verified by it.
            auth_login(request, device.user, backend=BACKEND)
            otp_login(request, device)
            request.session.pop(SESSION_EMAIL, None)
            request.session.pop(SESSION_NEXT, None)
            return redirect(next_url)
    return render(
        request,
        "portal/login_code.html",
        {"form": form, "email": email, "validity_minutes": login_code_validity_minutes()},
    )


@require_POST
def login_code_resend(request):
    email = request.session.get(SESSION_EMAIL)
    if not email:
        return redirect("portal:login")
    try:
        result = login_code_request(email=email, client_ip=client_ip(request))
    except LoginError as error:
        messages.error(request, error.message)
    else:
        if result.sent:
            messages.success(
                request,
                "If this address belongs to a customer, a new code is on its way. "
                "The previous code no longer works.",
            )
        else:
            wait = max(1, int((result.retry_at - timezone.now()).total_seconds()) + 1)
            messages.error(
                request,
                f"A code was sent less than {settings.OTP_EMAIL_COOLDOWN_DURATION} seconds "
                f"ago. You can ask for a new one in {wait} seconds; the last code still works.",
            )
    return redirect("portal:login_code")


@require_http_methods(["GET", "POST"])
def login_password(request):
    if current_customer(request) is not None:
        return redirect("portal:home")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = PasswordLoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = login_password_check(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                client_ip=client_ip(request),
            )
        except LoginError as error:
            form.add_error(None, error.message)
            status = _status(error)
        else:
            auth_login(request, user, backend=BACKEND)
            return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    return render(
        request, "portal/login_password.html", {"form": form, "next": next_url}, status=status
    )


@require_POST
def logout(request):
    # Flushes the session: its data is deleted and the cookie no longer opens anything.
    auth_logout(request)
    messages.success(request, "You are logged out.")
    return redirect("portal:login")
