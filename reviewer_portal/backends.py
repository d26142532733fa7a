"""The portal's backing services as settings read them: the database, the Channels layer for live
updates, and the caches. SQLite, the database layer and files on this machine when nothing else
is configured (the embedded stack); PostgreSQL and Redis in production.

Plain functions of the configured URLs, so reviewer_portal/settings.py reads as one list of
settings and each backend's reasons are told here, once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import environ


def databases(url: str, var_dir: Path) -> dict[str, dict[str, Any]]:
    default = environ.Env.db_url_config(url)
    if default["ENGINE"] == "django.db.backends.sqlite3":
        # The worker's projection writes and the portal share one file: wait for locks, don't fail.
        # IMMEDIATE: a writing transaction takes the lock up front and waits for it, instead of
        # failing with "database is locked" when two writers upgrade their read locks at once.
        # WAL lets the portal read while the worker writes, and commits without a full fsync each.
        default.setdefault("OPTIONS", {}).update(
            timeout=20,
            transaction_mode="IMMEDIATE",
            init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        )
        # A file (threads of one test run share it), named per process so parallel runs don't collide.
        default["TEST"] = {"NAME": str(var_dir / f"test-{os.getpid()}.sqlite3")}
    return {"default": default}


def channel_layers(redis_url: str) -> dict[str, dict[str, Any]]:
    if redis_url:
        # redis-py 8 reads with a 5 s socket timeout, as long as channels-redis's blocking receive
        # waits (BZPOPMIN, 5 s): with it, a WebSocket that hears nothing for 5 s fails. Longer here.
        return {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 15}]},
            }
        }
    # The worker sidecar is another process, which an in-memory layer cannot reach: without
    # Redis, messages go through the shared database (see reviewer_portal.live.layers).
    return {"default": {"BACKEND": "reviewer_portal.live.layers.DatabaseChannelLayer"}}


def caches(redis_url: str, var_dir: Path) -> dict[str, dict[str, Any]]:
    # The inbox's versions (reviewer_portal/inbox/freshness.py), shared by the portal's processes
    # and the worker sidecar: Redis when there is one, else files on this machine.
    # Never pickled: what Redis hands back is only ever decoded as text (reviewer_portal/cache_text.py).
    projection: dict[str, Any] = (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "reviewer-portal",
            "OPTIONS": {"serializer": "reviewer_portal.cache_text.TextSerializer"},
        }
        if redis_url
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(var_dir / "cache" / "projection"),
        }
    )
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"},
        # The inbox's gate tables kept per tag (inbox/views.py), apart: query strings a reviewer
        # makes up fill this one, never evict the counts and rows in "default".
        "inbox-tables": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "inbox-tables",
            "OPTIONS": {"MAX_ENTRIES": 1000},
        },
        "projection": projection,
    }
