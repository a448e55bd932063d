from django.core.management.base import BaseCommand, CommandError

from accounts.services import staff_user_create


class Command(BaseCommand):
    help = "Creates a staff user with a TOTP device and prints its otpauth:// URI."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)

    def handle(self, *args, email, password, **options):
        try:
            device = staff_user_create(email=email, password=password)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Staff user {email} created.")
        self.stdout.write("Add this to an authenticator app (or render it as a QR code):")
        self.stdout.write(device.config_url)
