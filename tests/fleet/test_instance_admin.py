"""Instance prices are edited in the staff admin, each change audited."""

from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from fleet.models import InstancePackage

pytestmark = pytest.mark.django_db


def test_a_package_price_change_is_audited(staff_client):
    package = InstancePackage.objects.create(
        code="pro", name="Pro", daily_price=Decimal("5.00"), price_per_cpe_device=Decimal("0.01")
    )
    url = reverse("admin:fleet_instancepackage_change", args=[package.pk])
    response = staff_client.post(
        url,
        {
            "code": "pro",
            "name": "Pro",
            "daily_price": "6.50",
            "price_per_cpe_device": "0.01",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    package.refresh_from_db()
    assert package.daily_price == Decimal("6.50")
    entry = AuditEntry.objects.get(action="instancepackage.update_by_staff")
    assert (entry.before, entry.after) == ({"daily_price": "5.0000"}, {"daily_price": "6.50"})
