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
