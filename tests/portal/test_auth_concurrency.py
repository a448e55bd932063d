"""A code works once even when two requests bring it at the same moment (PostgreSQL row
locks on the e-mail device)."""

import threading

import pytest
from django.core import mail
from django.db import connection

from accounts.models import User
from portal.auth import LoginError, login_code_request, login_code_verify
from tests.factories import CustomerFactory
from tests.portal.conftest import code_from_mail


@pytest.mark.django_db(transaction=True)
def test_the_same_code_sent_twice_at_once_logs_in_once(on_postgres):
    contact = User.objects.create_user(email="billing@race.example")
    CustomerFactory(contact=contact)
    login_code_request(email=contact.email, client_ip="203.0.113.1")
    code = code_from_mail(contact.email)
    barrier = threading.Barrier(4)
    outcomes = []

    def attempt():
        try:
            barrier.wait()
            outcomes.append(login_code_verify(email=contact.email, code=code).user_id)
        except LoginError as error:
            outcomes.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(contact.pk) == 1
    assert (
        sorted(o for o in outcomes if o != contact.pk)
        == [
            "There is no code waiting for this address: it was already used, or a new one "
            "replaced it. Ask for a new code."
        ]
        * 3
    )
    assert len(mail.outbox) == 1
