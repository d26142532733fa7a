"""How long a provider asked us to wait: `retry-after-ms`, then `Retry-After` (seconds or date)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's requested delay in seconds, or None if it gave no usable hint.

    Header names match in any case. A negative delay or a date in the past means "now" (0.0); an
    absurdly large number may come back as `inf`, so callers cap the result. A header that is
    garbage counts as absent, so an unusable `retry-after-ms` falls back to `Retry-After`.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, unit in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        seconds = _number(lowered.get(name, ""))
        if seconds is not None:
            return max(seconds / unit, 0.0)
    value = lowered.get("retry-after", "")
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else number
