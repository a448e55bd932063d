"""Shared arrangements for the cloud-instance tests."""

from datetime import UTC, datetime
from decimal import Decimal

from billing.services.balance import balance_top_up
from billing.services.instances import instance_create
from fleet.models import InstanceOption, InstancePackage


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def package(code: str, daily: str, per_device: str = "0") -> InstancePackage:
    return InstancePackage.objects.create(
        code=code,
        name=code.title(),
        daily_price=Decimal(daily),
        price_per_cpe_device=Decimal(per_device),
    )


def option(code: str, daily: str) -> InstanceOption:
    return InstanceOption.objects.create(code=code, name=code.title(), daily_price=Decimal(daily))


def top_up(customer, amount: str, key: str) -> None:
    balance_top_up(customer=customer, amount=Decimal(amount), key=key, reason="test")


def new_instance(customer, pkg, *, name="dms", devices=0, options=()):
    return instance_create(
        customer=customer,
        name=name,
        package=pkg,
        expected_cpe_devices=devices,
        options=options,
        actor="test",
    )
