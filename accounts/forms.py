"""The staff admin's login form: e-mail, password and authenticator code on one page."""

from django import forms

from accounts.client_ip import client_ip
from accounts.staff_login import StaffLoginError, staff_login_check


class StaffLoginForm(forms.Form):
    """Works with Django's LoginView (the admin's login view): takes `request`, offers
    `get_user()`. The user carries `otp_device`, so django_otp.login marks the session
    verified when Django's login runs (django_otp listens to user_logged_in)."""

    email = forms.CharField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        max_length=4096,  # bounded: no megabyte-long password to hash
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    # Not required here: a missing code gets the same answer as a wrong one.
    code = forms.CharField(
        label="6-digit code",
        max_length=12,
        required=False,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "required": True,
            }
        ),
    )

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user_cache = None
        self.rate_limited = False
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            login = staff_login_check(
                request=self.request,
                email=cleaned["email"],
                password=cleaned["password"],
                code=cleaned.get("code", ""),
                client_ip=client_ip(self.request),
            )
        except StaffLoginError as error:
            self.rate_limited = error.rate_limited
            raise forms.ValidationError(
                error.message, code="rate_limited" if error.rate_limited else "invalid_login"
            ) from error
        login.user.otp_device = login.device
        self.user_cache = login.user
        return cleaned

    def get_user(self):
        return self.user_cache
