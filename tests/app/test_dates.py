"""Smart dates, as the lists and the note page show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from notejam.dates import smart_date

NOW = datetime(2026, 11, 29, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 29, 9, 5, tzinfo=UTC), "Today at 09:05"),
        (datetime(2026, 11, 29, 0, 0, tzinfo=UTC), "Today at 00:00"),
        (datetime(2026, 11, 28, 23, 59, tzinfo=UTC), "Yesterday at 23:59"),
        (datetime(2026, 11, 27, 12, 0, tzinfo=UTC), "2 days ago"),
        (datetime(2026, 11, 22, 12, 0, tzinfo=UTC), "7 days ago"),
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "21 Nov 2026"),
        (datetime(2025, 1, 2, 3, 4, tzinfo=UTC), "02 Jan 2025"),
        (NOW + timedelta(minutes=5), "Today at 15:35"),  # a clock slightly ahead
        (datetime(2026, 11, 29, 9, 5), "Today at 09:05"),  # naive values are UTC
        (datetime(2026, 11, 29, 1, 0, tzinfo=timezone(timedelta(hours=2))), "Yesterday at 23:00"),
    ],
)
def test_smart_date(value, expected):
    assert smart_date(value, now=NOW) == expected


JUST_AFTER_MIDNIGHT = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "Today at 00:00"),
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "Yesterday at 23:59"),  # two minutes ago, another day
        (datetime(2026, 11, 30, 0, 0, tzinfo=UTC), "Yesterday at 00:00"),
        (datetime(2026, 11, 29, 23, 59, tzinfo=UTC), "2 days ago"),
        (datetime(2026, 11, 24, 0, 0, tzinfo=UTC), "7 days ago"),
        (datetime(2026, 11, 23, 23, 59, tzinfo=UTC), "23 Nov 2026"),  # the eighth day back: the date
    ],
)
def test_smart_date_boundaries_are_utc_calendar_days(value, expected):
    assert smart_date(value, now=JUST_AFTER_MIDNIGHT) == expected


def test_smart_date_uses_utc_whatever_the_zone_of_now():
    # 23:30 in New York on 30 Nov is already 1 Dec in UTC: a note from 1 Dec 04:00 UTC is today.
    new_york_evening = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert smart_date(datetime(2026, 12, 1, 4, 0, tzinfo=UTC), now=new_york_evening) == "Today at 04:00"
