"""Signed starts: the portal vouches for each run it starts, and workers run no other.

Whoever starts a run writes its input: the pinned spec (which gate, which action on approval),
the case, the submitter, the keys the run trusts. So the portal signs every start it makes with its
reviewer-action key, in a header beside the input: which workflow type and id, a digest of the
input, and when. A worker runs a new run only if that signature is by a key of its keyring and the
start reached Temporal within MAX_START_AGE of being signed (agents.framework.worker_keyring).

A run's own continue-as-new carries no portal signature: a worker's seal instead
(agents.framework.seals), which the same interceptor checks. Pure: the portal's
client interceptor (reviewer_portal.trust.start_signing) and the worker share it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter

from agents.framework.signing import verifies

START_CLAIM_HEADER = "reviewer-portal-start-claim"
START_PREFIX = b"reviewer-portal/start/v1\n"
START_REFUSED = "StartRefused"
# A start is good this long after it was signed (a slow round trip, a start retried after a
# timeout); a copied header and input started again later are refused.
MAX_START_AGE = timedelta(minutes=10)
MAX_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class StartClaim:
    key_id: str
    signed_at: str  # ISO 8601 in UTC, as signed
    value: str  # base64 Ed25519 signature of start_message(...)

    def to_header(self) -> Payload:
        return Payload(metadata={"encoding": b"json/plain"}, data=_canonical(asdict(self)))

    @classmethod
    def from_header(cls, payload: Payload | None) -> StartClaim | None:
        if payload is None:
            return None
        try:
            fields = json.loads(payload.data)
            return cls(str(fields["key_id"]), str(fields["signed_at"]), str(fields["value"]))
        except (ValueError, TypeError, KeyError):
            return None


def input_digest(converter: PayloadConverter, args: Sequence[Any]) -> str:
    """sha256 of the run's input as JSON, keys sorted and whole numbers written as integers: the
    same for the portal's objects and the worker's decoded copies of them (a field typed float
    decodes 0 as 0.0, one typed int decodes 3600.0 as 3600)."""
    parts = []
    for payload in converter.to_payloads(args):
        encoding = payload.metadata.get("encoding", b"")
        data = (
            _canonical(_whole_numbers(json.loads(payload.data)))
            if encoding == b"json/plain"
            else payload.data
        )
        parts.append(encoding + b"\n" + base64.b64encode(data))
    return hashlib.sha256(b"\n".join(parts)).hexdigest()


def start_message(*, workflow_type: str, workflow_id: str, digest: str, key_id: str, signed_at: str) -> bytes:
    claims = {
        "workflow_type": workflow_type,
        "workflow_id": workflow_id,
        "input_sha256": digest,
        "key_id": key_id,
        "signed_at": signed_at,
    }
    return START_PREFIX + _canonical(claims)


def start_refusal(
    claim: StartClaim | None,
    *,
    keyring: Mapping[str, str],
    workflow_type: str,
    workflow_id: str,
    digest: str,
    started_at: datetime,
) -> str | None:
    """Why a run must not start from this input; None if the portal signed it, lately."""
    if claim is None:
        return "This run was not started by the portal (its start is not signed), so it does nothing."
    public_key = keyring.get(claim.key_id)
    if public_key is None:
        return f"This run's start is signed with a key the portal never published ({claim.key_id})."
    message = start_message(
        workflow_type=workflow_type,
        workflow_id=workflow_id,
        digest=digest,
        key_id=claim.key_id,
        signed_at=claim.signed_at,
    )
    if not verifies(public_key, claim.value, message):
        return "This run's start does not match what the portal signed: its input, type or id was changed."
    try:
        signed_at = datetime.fromisoformat(claim.signed_at)
    except ValueError:
        return "This run's start is signed at no valid time."
    if signed_at.tzinfo is None or not (started_at - MAX_START_AGE <= signed_at <= started_at + MAX_SKEW):
        return f"This run was started at {started_at.isoformat()}, not within minutes of its signature."
    return None


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
