"""Claim check: large payloads (documents, long model outputs) live outside Workflow history.

Temporal's external storage keeps a small reference in history and hands payloads over the
threshold to a storage driver. This driver stores them as content-addressed files, so the same
payload is stored once and a retry or replay finds it again. Worker, portal and codec endpoint
must share the directory (one machine in the embedded stack; a shared volume in production, or
swap in an object-store driver with the same interface).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

DEFAULT_THRESHOLD_BYTES = 128 * 1024
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class FileClaimCheck(StorageDriver):
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def name(self) -> str:
        return "claim-check-files"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await asyncio.to_thread(lambda: [self._store(p) for p in payloads])

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await asyncio.to_thread(lambda: [self._retrieve(c) for c in claims])

    def _path(self, digest: str) -> Path:
        return self._directory / digest[:2] / digest

    def _store(self, payload: Payload) -> StorageDriverClaim:
        data = payload.SerializeToString(deterministic=True)
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees half a payload.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        return StorageDriverClaim(claim_data={"sha256": digest})

    def _retrieve(self, claim: StorageDriverClaim) -> Payload:
        digest = claim.claim_data.get("sha256", "")
        # Anyone who can send an Update can write a claim: never read a path it made up.
        if not SHA256_HEX.fullmatch(digest):
            raise ValueError("Claim-check reference is malformed.")
        data = self._path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"Claim-check payload {digest} is corrupt.")
        return Payload.FromString(data)


def with_claim_check(
    converter: DataConverter, directory: Path, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
) -> DataConverter:
    """`converter` with payloads of `threshold_bytes` or more stored in `directory`."""
    storage = ExternalStorage(drivers=[FileClaimCheck(directory)], payload_size_threshold=threshold_bytes)
    return dataclasses.replace(converter, external_storage=storage)
