"""The one place that builds the Temporal Client, from settings (address, namespace, TLS, key)."""

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

_client: Client | None = None


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


async def connect() -> Client:
    """A new Client for the configured cluster."""
    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=settings.TEMPORAL_NAMESPACE,
        tls=_tls(),
        api_key=settings.TEMPORAL_API_KEY or None,
        data_converter=data_converter(),
    )


async def get_client() -> Client:
    """The process-wide Client (safe to share across event loops and threads).

    Raises TemporalUnreachable when it cannot connect: a portal process started during an outage
    tries again on its next request.
    """
    global _client
    if _client is None:
        try:
            _client = await connect()
        except RuntimeError as err:  # the SDK's "Failed client connect"
            raise TemporalUnreachable(str(err)) from err
    return _client


def reset_client() -> None:
    """Forget the cached Client (tests point the portal at a fresh server)."""
    global _client
    _client = None
