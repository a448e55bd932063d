"""The balance page's chart, drawn on the server: the balance at the end of each day
(a polyline) and what the instances cost that day (bars), over the last 90 days (UTC),
on one scale in EUR. The template (portal/_balance_chart.html) writes the <svg>; no
script, no inline style: the look is classes in static/css/cloud.css."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.models import BalanceEntry, BalanceKind, Customer

CHART_DAYS = 90
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 8, 8, 12, 24  # room for the labels


@dataclass(frozen=True)
class Bar:
    day: date
    spend: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BalanceChart:
    days: list[date]
    balances: list[Decimal]  # at the end of each day
    spends: list[Decimal]  # instance charges less refunds, each day
    top: Decimal  # the scale's top, in EUR
    points: str  # the polyline's "x,y x,y …"
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def baseline(self) -> float:
        return HEIGHT - BOTTOM

    @property
    def first(self) -> date:
        return self.days[0]

    @property
    def last(self) -> date:
        return self.days[-1]

    @property
    def empty(self) -> bool:
        return not any(self.balances) and not any(self.spends)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def balance_chart(*, customer: Customer, today: date, days: int = CHART_DAYS) -> BalanceChart:
    """Two queries: the last entry before the window (the starting balance), then the
    window's entries in order."""
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    before = (
        BalanceEntry.objects.filter(customer=customer, created_at__lt=start)
        .order_by("-created_at", "-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    balance = before if before is not None else Decimal("0.00")
    end_of: dict[date, Decimal] = {}
    spend: dict[date, Decimal] = {}
    for created, kind, amount, after in (
        BalanceEntry.objects.filter(customer=customer, created_at__gte=start)
        .order_by("created_at", "id")
        .values_list("created_at", "kind", "amount", "balance_after")
    ):
        day = _day(created)
        end_of[day] = after
        if kind in (BalanceKind.INSTANCE_CHARGE, BalanceKind.INSTANCE_REFUND):
            spend[day] = spend.get(day, Decimal(0)) - amount
    all_days = [first + timedelta(days=n) for n in range(days)]
    balances, spends = [], []
    for day in all_days:
        balance = end_of.get(day, balance)
        balances.append(balance)
        spends.append(max(Decimal("0.00"), spend.get(day, Decimal("0.00"))))
    top = max([*balances, *spends, Decimal("1.00")])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / days

    def y_of(value: Decimal) -> float:
        return round(TOP + plot_h - float(value / top) * plot_h, 1)

    points = " ".join(
        f"{round(LEFT + step * (n + 0.5), 1)},{y_of(value)}" for n, value in enumerate(balances)
    )
    bars = [
        Bar(
            day=day,
            spend=value,
            x=round(LEFT + step * n + step * 0.15, 1),
            y=y_of(value),
            width=round(step * 0.7, 1),
            height=round(HEIGHT - BOTTOM - y_of(value), 1),
        )
        for n, (day, value) in enumerate(zip(all_days, spends, strict=True))
        if value > 0
    ]
    return BalanceChart(
        days=all_days, balances=balances, spends=spends, top=top, points=points, bars=bars
    )
