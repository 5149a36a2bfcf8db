"""Time in graphtrail: epoch microseconds (UTC) inside, ISO 8601 text outside.

:func:`micros` is the one way into microseconds, whatever holds the time (an Arrow or
pandas timestamp, a datetime from a driver, ISO text, an int already); :func:`iso` the one
way out.

>>> micros("2024-08-01T13:42:21.5Z"), iso(1722519741500000)
(1722519741500000, '2024-08-01T13:42:21.500000Z')
>>> from datetime import datetime
>>> micros(datetime(2024, 8, 1, 13, 42, 21, 999999)), micros(None)
(1722519741999999, None)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from numbers import Integral

__all__ = ["micros", "iso"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def micros(value: object) -> int | None:
    """Epoch microseconds of ``value``; a zone-less datetime or text is taken as UTC.

    Exact integer arithmetic: no float on the way, so no microsecond is lost to rounding.
    """
    if value is None:
        return None
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)  # already µs (numpy integers included)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _ONE_US
    raise TypeError(f"not a time: {value!r} ({type(value).__name__})")


def iso(us: int | None) -> str | None:
    """Epoch microseconds -> ``2024-08-01T13:42:21Z`` (fractions kept when present)."""
    if us is None:
        return None
    dt = datetime.fromtimestamp(us / 1e6, UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
