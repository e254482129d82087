"""The one source of time: server-generated UTC (ALCOA+ 'contemporaneous')."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta

# Only the demo loader shifts the clock (to give the demo site a past); the application never does,
# and nothing outside this process (no request, setting or environment variable) can set it.
_SHIFT: ContextVar[timedelta] = ContextVar("pharmos_clock_shift", default=timedelta(0))


def utcnow() -> datetime:
    # 21 CFR 11.10(e): time stamps come from the server, never from the client.
    return datetime.now(UTC) + _SHIFT.get()


@contextmanager
def clock_shifted(by: timedelta) -> Iterator[None]:
    """Run the block as if it were ``by`` from now (negative: in the past). For the demo loader only."""
    token = _SHIFT.set(by)
    try:
        yield
    finally:
        _SHIFT.reset(token)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def site_today() -> date:
    """Today's date where the site is: expiry and retest dates are calendar dates there."""
    from zoneinfo import ZoneInfo

    from pharmos.core.config import get_settings

    return utcnow().astimezone(ZoneInfo(get_settings().site_timezone)).date()


def site_date(at: datetime) -> date:
    """The calendar date at the site at the instant ``at`` (due dates are site calendar dates)."""
    from zoneinfo import ZoneInfo

    from pharmos.core.config import get_settings

    return as_utc(at).astimezone(ZoneInfo(get_settings().site_timezone)).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when that month is shorter (31 Jan + 1 = 28/29 Feb)."""
    import calendar

    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))
