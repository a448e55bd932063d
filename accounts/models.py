"""People who log in: customers' billing contacts and staff. The e-mail address is the login."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.text import text_fields_validate


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(
        "e-mail address",
        max_length=254,
        unique=True,
        error_messages={
            "unique": "This e-mail address is already used by another account.",
        },
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff reach the admin; they never log in to the portal."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Part of the session hash: raising it (accounts.services.user_sessions_end) ends every
    # session of this user at their next request, whatever the session backend.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_ci",
                violation_error_message="This e-mail address is already used by another account.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password only; the generation lets us end sessions
        # without touching the password.
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def save(self, *args, **kwargs):
        # Stored lower-case so the exact unique index and the login lookup agree.
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)


class SignUp(models.Model):
    """A newcomer's request for an account, pending until the e-mailed link is opened.

    One row per address: asking again replaces the token (the old link stops working).
    Only a SHA-256 of the token is stored. Rows past `expires_at` are deleted by the
    hourly `accounts.tasks.signup_cleanup` (accounts/signup.py)."""

    email = models.EmailField("e-mail address", max_length=254, unique=True)
    company_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sign-up"

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"company_name": "company name"})


class ContactRequest(models.Model):
    """A visitor's "Contact Us" message (e.g. a contract paid by bank transfer), e-mailed
    to staff and listed in the admin, where staff mark it handled."""

    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200)
    email = models.EmailField("e-mail address", max_length=254)
    message = models.TextField()
    wants_contract = models.BooleanField("wants a contract and bank transfer", default=False)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "contact request"

    def __str__(self) -> str:
        return f"{self.company} ({self.email})"

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"name": "name", "company": "company name"})
