"""The demo's e-mail backend: every message goes to a file under var/mail/ and the console."""

from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.core.mail.backends.filebased import EmailBackend as FileBackend


class FileAndConsoleEmailBackend(FileBackend):
    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        ConsoleBackend().send_messages(email_messages)
        return sent
