import time

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.demo import demo_required


class Command(BaseCommand):
    help = "Demo only: prints the current TOTP code of a staff user's device."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="staff@caj.example")

    def handle(self, *args, email, **options):
        demo_required(what="staff_totp_code")
        device = TOTPDevice.objects.filter(user__email__iexact=email, confirmed=True).first()
        if device is None:
            raise CommandError(f"No TOTP device for {email}.")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()
        self.stdout.write(f"{totp.token():0{device.digits}d}")
