"""The one place that builds Temporal Clients, from settings (address, TLS, key): one per
namespace, each encrypting with that namespace's payload keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from django.conf import settings
from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from agents.framework.claim_check import with_claim_check
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from reviewer_portal.codec.keys import codec_for
from reviewer_portal.domains import domain_of

_clients: dict[str, Client] = {}


class TemporalUnreachable(Exception):
    """No connection to the Temporal cluster could be made (the client could not even connect)."""


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


async def connect(namespace: str | None = None) -> Client:
    """A new Client for `namespace` (default: TEMPORAL_NAMESPACE) of the configured cluster."""
    namespace = namespace or settings.TEMPORAL_NAMESPACE
    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=namespace,
        tls=_tls(),
        api_key=settings.TEMPORAL_API_KEY or None,
        data_converter=data_converter(namespace),
    )


async def get_client(namespace: str | None = None) -> Client:
    """The process-wide Client of `namespace` (safe to share across event loops and threads).

    Raises TemporalUnreachable when it cannot connect: a portal process started during an outage
    tries again on its next request.
    """
    namespace = namespace or settings.TEMPORAL_NAMESPACE
    client = _clients.get(namespace)
    if client is None:
        try:
            client = _clients[namespace] = await connect(namespace)
        except RuntimeError as err:  # the SDK's "Failed client connect"
            raise TemporalUnreachable(str(err)) from err
    return client


async def client_for_agent(agent: str) -> Client:
    """The Client of the namespace the agent's domain runs in."""
    return await get_client(domain_of(agent).namespace)


def reset_client() -> None:
    """Forget the cached Clients (tests point the portal at a fresh server)."""
    _clients.clear()
