"""The one place that builds Temporal Clients, from settings (address, TLS, key): one per
namespace, each encrypting with that namespace's payload keys.

The process's Clients are made on one long-lived event loop, the client loop, run by a daemon
thread. Sync code (views, services, commands) hands it coroutines with `run_on_client_loop`
instead of `async_to_sync`, which would build an event loop and a thread per call. The Clients
themselves are usable from any loop (the SDK's Rust core answers on whichever loop awaits it), so
async code on another loop (a daphne view) may simply `await get_client(...)` and call it there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from agents.framework.claim_check import with_claim_check
from agents.framework.seals import SealKeys
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from reviewer_portal.codec.keys import codec_for
from reviewer_portal.domains import domain_of
from reviewer_portal.request_threads import step_aside
from reviewer_portal.trust.start_signing import SignedStarts

T = TypeVar("T")

# How long sync code waits for a call on the client loop before it gives up (and cancels it).
CALL_TIMEOUT_SECONDS = 120.0
# How long a start may take before a caller gives up on it (the conversation's, the delivery loop's).
START_TIMEOUT_SECONDS = 15.0
# Starts in flight at once per process: a burst queues here instead of piling onto the server
# (the dev server writes through one SQLite connection), and a queued start waits its turn.
START_CONCURRENCY = 32

_clients: dict[str, Client] = {}


class TemporalUnreachable(Exception):
    """No connection to the Temporal cluster could be made (the client could not even connect)."""


class TemporalBusy(TemporalUnreachable):
    """The call did not finish in time (Temporal is slow or the queue of starts is long); it was
    cancelled here, though the server may still have done it."""


class _ClientLoop:
    """An event loop on a daemon thread that lives as long as the process: owns its Clients."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.connecting: dict[str, asyncio.Task[Client]] = {}
        self.starts: asyncio.Semaphore | None = None  # made on the loop that uses it
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal-client", daemon=True)
        self.thread.start()


_owner: _ClientLoop | None = None
_owner_lock = threading.Lock()


def _client_loop() -> _ClientLoop:
    """The client loop, started on first use (and again in a forked child, which has no thread)."""
    global _owner
    owner = _owner
    if owner is not None and owner.pid == os.getpid() and owner.thread.is_alive():
        return owner
    with _owner_lock:
        if _owner is None or _owner.pid != os.getpid() or not _owner.thread.is_alive():
            _clients.clear()
            _owner = _ClientLoop()
        return _owner


def run_on_client_loop(
    coroutine: Coroutine[Any, Any, T], *, timeout: float | None = CALL_TIMEOUT_SECONDS
) -> T:
    """Run `coroutine` on the client loop and wait for its result, from sync code on any thread.

    Its exceptions are raised here; after `timeout` seconds it is cancelled and TemporalBusy is
    raised. The loop carries on either way.
    """
    future = start_on_client_loop(coroutine)
    step_aside()  # on a request thread, the next request may run while this one waits
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError as err:
        future.cancel()
        raise TemporalBusy(f"Temporal did not answer within {timeout:.0f} s.") from err


def start_on_client_loop(coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run `coroutine` on the client loop without waiting for it, from sync code on any thread: its
    future, which nothing here cancels (a caller may stop waiting while it goes on)."""
    owner = _client_loop()
    if threading.current_thread() is owner.thread:
        coroutine.close()
        raise RuntimeError("Sync code waited on the client loop from the loop itself: await instead.")
    return asyncio.run_coroutine_threadsafe(coroutine, owner.loop)


async def await_on_client_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Await `coroutine` on the client loop from async code on another loop (or on it)."""
    owner = _client_loop()
    if asyncio.get_running_loop() is owner.loop:
        return await coroutine
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, owner.loop))


@asynccontextmanager
async def start_slot() -> AsyncIterator[None]:
    """Hold one of START_CONCURRENCY places for a start: on the client loop, the rest queue."""
    owner = _client_loop()
    if asyncio.get_running_loop() is not owner.loop:  # another loop: no queue to share
        yield
        return
    if owner.starts is None:
        owner.starts = asyncio.Semaphore(START_CONCURRENCY)
    async with owner.starts:
        yield


def _tls() -> TLSConfig | bool:
    if not settings.TEMPORAL_TLS:
        return False
    if not (settings.TEMPORAL_TLS_CA or settings.TEMPORAL_TLS_CERT):
        return True

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.TEMPORAL_TLS_CA),
        client_cert=read(settings.TEMPORAL_TLS_CERT),
        client_private_key=read(settings.TEMPORAL_TLS_KEY),
    )


def data_converter(namespace: str | None = None) -> DataConverter:
    """The converter every process shares: strict JSON payloads, encrypted with the namespace's
    keys (failure messages too), large ones via the claim check (stored encrypted)."""
    encrypted = dataclasses.replace(
        STRICT_DATA_CONVERTER,
        payload_codec=codec_for(namespace or settings.TEMPORAL_NAMESPACE),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    return with_claim_check(encrypted, Path(settings.CLAIM_CHECK_DIR), settings.CLAIM_CHECK_THRESHOLD_BYTES)


def seal_keys(namespace: str) -> SealKeys:
    """The keys the portal seals its starts with in `namespace` (agents.framework.seals)."""
    codec = codec_for(namespace)
    return SealKeys.derived_from(codec.keys, namespace)


async def connect(namespace: str | None = None) -> Client:
    """A new Client for `namespace` (default: TEMPORAL_NAMESPACE) of the configured cluster."""
    namespace = namespace or settings.TEMPORAL_NAMESPACE
    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=namespace,
        tls=_tls(),
        api_key=settings.TEMPORAL_API_KEY or None,
        data_converter=data_converter(namespace),
        interceptors=[SignedStarts(STRICT_DATA_CONVERTER.payload_converter, seal_keys(namespace))],
    )


async def get_client(namespace: str | None = None) -> Client:
    """The process-wide Client of `namespace`, from any event loop or thread: connected once, on
    the client loop, however many callers ask at the same moment.

    Raises TemporalUnreachable when it cannot connect: a portal process started during an outage
    tries again on its next request.
    """
    namespace = namespace or settings.TEMPORAL_NAMESPACE
    client = _clients.get(namespace)
    if client is None:
        client = await await_on_client_loop(_connect_once(namespace))
    return client


async def _connect_once(namespace: str) -> Client:
    """On the client loop: the cached Client, or the one connection attempt under way."""
    if namespace in _clients:
        return _clients[namespace]
    connecting = _client_loop().connecting
    task = connecting.get(namespace)
    if task is None:
        task = connecting[namespace] = asyncio.ensure_future(_connect_and_cache(namespace))
        task.add_done_callback(lambda _: connecting.pop(namespace, None))
    return await asyncio.shield(task)


async def _connect_and_cache(namespace: str) -> Client:
    try:
        client = await connect(namespace)
    except RuntimeError as err:  # the SDK's "Failed client connect"
        raise TemporalUnreachable(str(err)) from err
    _clients[namespace] = client
    return client


async def client_for_agent(agent: str) -> Client:
    """The Client of the namespace the agent's domain runs in."""
    return await get_client(domain_of(agent).namespace)


def reset_client() -> None:
    """Forget the cached Clients (tests point the portal at a fresh server)."""
    _clients.clear()
