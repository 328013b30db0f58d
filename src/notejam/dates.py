"""Smart dates: "Today at 14:05", "Yesterday at 09:30", "3 days ago", then the date (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

WEEK_DAYS = 7
# Formatted by hand: `f"{value:%H:%M}"` goes through strftime, about 2 µs a call, and a list formats every row's date.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class SmartDates:
    """Smart dates against one `now`: a list dates every row alike, and today's UTC day is worked out once."""

    def __init__(self, now: datetime) -> None:
        self.today = now.astimezone(UTC).toordinal()

    def __call__(self, value: datetime) -> str:
        if value.tzinfo is not UTC:  # rows come in UTC (models.UTCDateTime); anything else is converted, naive is UTC
            value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        days = self.today - value.toordinal()
        if days <= 0:  # today, or a clock a little ahead of ours
            return f"Today at {value.hour:02d}:{value.minute:02d}"
        if days == 1:
            return f"Yesterday at {value.hour:02d}:{value.minute:02d}"
        if days <= WEEK_DAYS:
            return f"{days} days ago"
        return f"{value.day:02d} {MONTHS[value.month - 1]} {value.year}"


def smart_date(value: datetime, now: datetime | None = None) -> str:
    return SmartDates(now or datetime.now(UTC))(value)
