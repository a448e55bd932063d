"""Self sign-up and "Contact Us" pages. The rules are in accounts/signup.py and
accounts/contact.py."""

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.client_ip import client_ip
from accounts.contact import ContactError, contact_request_create
from accounts.signup import (
    LinkProblem,
    SignUpError,
    signup_check,
    signup_confirm,
    signup_link_validity_hours,
    signup_normalize_email,
    signup_request,
)
from portal.context import customer_required
from portal.forms import ContactForm, SignUpForm
from portal.views.auth import BACKEND

# Between the sign-up form and "check your inbox" (and its Resend button).
SESSION_SIGNUP = "portal_signup"


def _status(error) -> int:
    return 429 if error.rate_limited else 200


@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignUpForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = {
            "email": signup_normalize_email(email=form.cleaned_data["email"]),
            "company_name": form.cleaned_data["company_name"],
            "country": form.cleaned_data["country"],
        }
        try:
            signup_request(**data, client_ip=client_ip(request))
        except SignUpError as error:
            form.add_error(None, error.message)
            status = _status(error)
        else:
            request.session[SESSION_SIGNUP] = data
            return redirect("portal:signup_sent")
    return render(
        request,
        "portal/signup.html",
        {"form": form, "validity_hours": signup_link_validity_hours()},
        status=status,
    )


@require_GET
def signup_sent(request):
    data = request.session.get(SESSION_SIGNUP)
    if not data:
        return redirect("portal:signup")
    return render(
        request,
        "portal/signup_sent.html",
        {"email": data["email"], "validity_hours": signup_link_validity_hours()},
    )


@require_POST
def signup_resend(request):
    data = request.session.get(SESSION_SIGNUP)
    if not data:
        return redirect("portal:signup")
    try:
        signup_request(**data, client_ip=client_ip(request))
    except SignUpError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "If the address can be registered, a new link is on its way. The previous "
            "link no longer works.",
        )
    return redirect("portal:signup_sent")


@require_http_methods(["GET", "POST"])
def signup_confirm_view(request):
    """GET shows a button (mail scanners that open links do not use up the link); the
    POST opens the account and logs its contact in."""
    token = request.POST.get("token") or request.GET.get("token") or ""
    opening = request.method == "POST"
    result = signup_confirm(token=token) if opening else signup_check(token=token)
    if isinstance(result, LinkProblem):
        form = SignUpForm(
            initial={
                "email": result.email,
                "company_name": result.company_name,
                **({"country": result.country} if result.country else {}),
            }
        )
        return render(
            request,
            "portal/signup_link_problem.html",
            {
                "problem": result,
                "form": form,
                "validity_hours": signup_link_validity_hours(),
            },
        )
    if not opening:
        return render(request, "portal/signup_confirm.html", {"token": token})
    auth_login(request, result.contact, backend=BACKEND)
    request.session.pop(SESSION_SIGNUP, None)
    return redirect("portal:signup_welcome")


@customer_required
@require_GET
def signup_welcome(request, *, customer):
    return render(
        request,
        "portal/signup_welcome.html",
        # The prepaid balance that pays cloud instances (a cloud sign-up's next step).
        {"customer": customer, "balance": customer.balance},
    )


@require_http_methods(["GET", "POST"])
def contact(request):
    form = ContactForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            contact_request_create(**form.cleaned_data, client_ip=client_ip(request))
        except ContactError as error:
            form.add_error(None, error.message)
            status = _status(error)
        else:
            messages.success(
                request,
                "Thank you: your message reached our sales team. We answer within two "
                "working days, by e-mail.",
            )
            return redirect("portal:contact")
    return render(request, "portal/contact.html", {"form": form}, status=status)
