"""retry_after_seconds: every header form a provider sends, and the garbage some send instead."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest

from agents.framework.retry_after import retry_after_seconds

pytestmark = pytest.mark.once  # the database is not what it tests: one CI pass

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def test_retry_after_ms_is_milliseconds():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5


def test_retry_after_ms_wins_over_retry_after():
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "30"}) == 0.25


def test_retry_after_in_seconds_may_be_fractional():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": " 0.5 "}) == 0.5


def test_retry_after_as_an_http_date_is_the_time_until_then():
    headers = {"retry-after": http_date(NOW + timedelta(seconds=90))}
    assert retry_after_seconds(headers, now=NOW) == 90.0


def test_an_http_date_without_a_zone_is_read_as_gmt():
    assert retry_after_seconds({"retry-after": "Fri, 14 Mar 2025 12:00:05 -0000"}, now=NOW) == 5.0


def test_a_date_in_the_past_means_now():
    headers = {"retry-after": http_date(NOW - timedelta(hours=1))}
    assert retry_after_seconds(headers, now=NOW) == 0.0


@pytest.mark.parametrize("headers", [{"retry-after": "-5"}, {"retry-after-ms": "-1000"}])
def test_a_negative_delay_means_now(headers):
    assert retry_after_seconds(headers) == 0.0


def test_header_names_match_in_any_case():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After-Ms": "3000"}) == 3.0
    assert retry_after_seconds(httpx2.Headers({"Retry-After": "4"})) == 4.0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": ""},
        {"retry-after": "soon"},
        {"retry-after": "nan"},
        {"retry-after-ms": "NaN"},
        {"retry-after": "Fri, 99 Foo 2025 25:61:00 GMT"},
        {"retry-after": "Fri, 14 Mar 99999 12:00:00 GMT"},
        {"x-ratelimit-reset-requests": "2s"},  # OpenAI's informational header, not a retry hint
    ],
)
def test_garbage_or_no_header_gives_no_hint(headers):
    assert retry_after_seconds(headers, now=NOW) is None


def test_garbage_retry_after_ms_falls_back_to_retry_after():
    assert retry_after_seconds({"retry-after-ms": "later", "retry-after": "7"}) == 7.0


def test_an_absurdly_large_delay_is_left_for_the_caller_to_cap():
    assert retry_after_seconds({"retry-after": "86400"}) == 86400.0
    assert math.isinf(retry_after_seconds({"retry-after": "1e999"}))
