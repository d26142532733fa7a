"""The inbox's shared versions live in Redis in production: what comes back from Redis is only ever
decoded as text or read as an integer, never unpickled, so write access to Redis is not code
execution in the portal (found by the attacker's review of issue 12). Real Redis, at REDIS_URL or
127.0.0.1:6379 (CI starts it)."""

from __future__ import annotations

import pickle
import uuid

import pytest
import redis
from django.core.cache import caches

from reviewer_portal.cache_text import TextSerializer
from reviewer_portal.inbox.freshness import VERSIONS_CACHE, _key, bump_roles, role_versions
from tests.test_live import REDIS_URL

pytestmark = pytest.mark.once  # nothing here depends on the database or channel layer: CI runs it in one pass

RAN: list[str] = []


def _ran(what: str) -> None:
    RAN.append(what)


class _Payload:
    """What an attacker stores: unpickling it calls _ran (by reference, as any importable callable)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_ran, ("pickle ran",))


@pytest.fixture
def redis_versions(settings, db):
    prefix = f"test-cache-text-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        **settings.CACHES,
        VERSIONS_CACHE: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"serializer": "reviewer_portal.cache_text.TextSerializer"},
        },
    }
    cache = caches[VERSIONS_CACHE]
    client = redis.Redis.from_url(REDIS_URL)
    yield cache, client
    # Its own keys only: the cache's clear() empties the whole Redis database, which CI's
    # production pass, running beside this one, keeps its inbox versions in.
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_text_and_integers_go_in_and_come_back_as_they_were_and_nothing_else_goes_in(redis_versions):
    cache, _ = redis_versions
    cache.set("token", "3f2a", timeout=None)
    cache.set("digits", "0123", timeout=None)  # text that looks like a number stays text
    cache.set("count", 41, timeout=None)
    cache.incr("count")
    assert cache.get_many(["token", "digits", "count"]) == {"token": "3f2a", "digits": "0123", "count": 42}
    for value in ({"a": 1}, [1], 1.5, True, b"raw", None):
        with pytest.raises(TypeError, match="text and integers only"):
            TextSerializer().dumps(value)


def test_a_pickle_planted_in_redis_is_never_unpickled_and_the_poll_re_reads(redis_versions):
    cache, client = redis_versions
    bump_roles(["credit_officer"])
    before = role_versions(["credit_officer"])["credit_officer"]
    planted = cache.make_and_validate_key(_key("credit_officer"))
    client.set(planted, pickle.dumps(_Payload()))

    after = role_versions(["credit_officer"])["credit_officer"]

    assert RAN == []  # Django's default serializer would have run the attacker's code here
    assert after != before  # unreadable: a fresh token that no tag carries, so the poll re-reads
    bump_roles(["credit_officer"])  # the next change replaces the planted value
    assert isinstance(role_versions(["credit_officer"])["credit_officer"], str) and RAN == []
