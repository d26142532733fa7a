"""Verifying an audit export offline (`manage.py audit_verify FILE`): no database, no Temporal
server, no keys but the portal's public keys the run itself pinned. In this order, stopping at
the first thing wrong:

1. the content: the archived record's content hashes to what its header says;
2. the chain: each record's hash is its header's, and each follows the one before it (a removed
   record shows as a gap);
3. the events: every run's history is whole (event ids 1, 2, ... with none missing), and every
   entry of the readable trail the export shows is the archived one, unaltered;
4. the reviewer actions: each verifies against the keys the run pinned;
5. the anchor: the chain segment ends at a record the portal signed when it appended it, with a
   key of the auditor's keyring, so rewriting records and recomputing every hash is not enough;
   the chain head the export names must agree with it.

Before all that, anything in the file none of these steps checks fails
(reviewer_portal.archive.export_shape): a reader could take it for part of what was verified. So
does a file no export could be (not JSON, nested too deep, larger than MAX_EXPORT_BYTES).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.converter import value_to_type

from agents.framework import signing
from agents.framework.reviewer_actions import AnnotateInput, AssignInput, DecideInput, KeyEndorsement
from agents.framework.types import VerifyingKey
from reviewer_portal.archive.export_shape import (
    MAX_EXPORT_BYTES,
    TRAIL_FIELDS,
    Tampered,
    parsed_export,
    refuse_unchecked,
)
from reviewer_portal.archive.hashing import (
    canonical,
    checkpoint_message,
    content_sha256,
    record_hash,
)
from reviewer_portal.trust.archive_key import checkpoint_refusal

ACTIONS = {"decide": DecideInput, "annotate": AnnotateInput, "assign": AssignInput}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Verified:
    summary: str


def verify_export(data: bytes, *, portal_keys: Sequence[VerifyingKey]) -> Verified:
    """`portal_keys` is the trust root: the portal's public keys as the auditor got them from the
    bank (not from the file). The run's pinned keys must be among them, and so must the key that
    signed the chain; keys written into the file prove nothing by themselves."""
    if len(data) > MAX_EXPORT_BYTES:
        raise Tampered(
            f"The file is not an audit export (larger than {MAX_EXPORT_BYTES} bytes, which no export reaches)."
        )
    try:
        export = parsed_export(data)
        refuse_unchecked(export)
        return _verify(export, list(portal_keys))
    except RecursionError:  # the parser's, or hashing's, on a file nested thousands deep
        raise Tampered("The file is not an audit export (nested too deeply to be one).") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise Tampered(f"The export is malformed ({type(err).__name__}: {err}).") from None


def _verify(export: dict[str, Any], portal_keys: list[VerifyingKey]) -> Verified:
    archive = export.get("archive")
    if not isinstance(archive, dict):
        raise Tampered(
            "This export has no archive record: the run was not archived yet, so nothing proves it."
        )
    records = archive.get("records") or []
    if not records or "content" not in records[0]:
        raise Tampered(
            "The export's archive record has no content (it was purged, or removed from the file)."
        )
    content = records[0]["content"]
    first = records[0]["header"]
    if content_sha256(content) != first["content_sha256"]:
        raise Tampered(
            f"Record #{first['seq']}: its content was changed (it no longer hashes to its header's)."
        )
    if (first["kind"], first["workflow_id"], first["namespace"]) != (
        "run",
        export["workflow_id"],
        content["namespace"],
    ):
        raise Tampered("The export's first record is not the archived run it claims to be.")
    _verify_chain(records)
    events = _verify_events(content, export)
    pinned = _pinned_keys(content["trail"]["entries"])
    _require_known(pinned, portal_keys)
    actions = _verify_actions(content["trail"], pinned)
    signed = _verify_anchor(records[-1], archive.get("signed") or {}, portal_keys)
    _verify_head(archive.get("head"), records[-1])
    return Verified(
        f"OK: {export['workflow_id']} is record #{first['seq']} of {first['namespace']}'s archive, chained to "
        f"#{signed['seq']} {signed['record_hash'][:16]}, which the portal signed ({signed['key_id']}); "
        f"{events} events in {len(content['histories'])} run(s) whole; {len(export['entries'])} trail "
        f"entries as archived; {actions} signed reviewer action(s) verified."
    )


def _require_known(pinned: list[VerifyingKey], portal_keys: list[VerifyingKey]) -> None:
    """A run that pins a key the bank never published could take actions signed by anyone."""
    known = {(key.key_id, key.public_key) for key in portal_keys}
    for key in pinned:
        if (key.key_id, key.public_key) not in known:
            raise Tampered(f"The run trusts a key that is not one of the portal's ({key.key_id}).")


def _verify_chain(records: list[dict[str, Any]]) -> None:
    previous: dict[str, Any] | None = None
    for record in records:
        header = record["header"]
        if record_hash(header) != record["record_hash"]:
            raise Tampered(
                f"Record #{header.get('seq')}: its header was changed (it no longer hashes to its hash)."
            )
        if previous is not None:
            before = previous["header"]["seq"]
            if header["seq"] != before + 1:
                raise Tampered(
                    f"Record #{before + 1} is missing: #{header['seq']} comes right after #{before}."
                )
            if header["prev_hash"] != previous["record_hash"]:
                raise Tampered(
                    f"Record #{header['seq']} does not follow record #{before} (its previous hash differs)."
                )
        previous = record


def _verify_anchor(
    last: dict[str, Any], signed: dict[str, Any], portal_keys: list[VerifyingKey]
) -> dict[str, Any]:
    header = last["header"]
    if signed.get("namespace") != header["namespace"]:
        raise Tampered(
            f"The portal's signature names namespace {signed.get('namespace')!r}, "
            f"not the chain's ({header['namespace']!r})."
        )
    if (signed.get("seq"), signed.get("record_hash")) != (header["seq"], last["record_hash"]):
        raise Tampered(
            f"The chain segment ends at record #{header['seq']}, not at the point the portal signed "
            f"(#{signed.get('seq')}): records are missing after it, or it was rewritten."
        )
    refusal = checkpoint_refusal(
        checkpoint_message(header["namespace"], header["seq"], last["record_hash"]),
        key_id=str(signed.get("key_id", "")),
        value=str(signed.get("value", "")),
        endorsements=[value_to_type(KeyEndorsement, e) for e in signed.get("endorsements", [])],
        portal_keys=portal_keys,
    )
    if refusal:
        raise Tampered(f"The chain at record #{header['seq']} is not the one the portal signed: {refusal}.")
    return signed


def _verify_head(head: dict[str, Any] | None, last: dict[str, Any]) -> None:
    """The head of the chain when the export was made. Nothing in the file signs a head past
    the segment (compare it with the logged head), so it must at least agree with the segment:
    the same namespace, not before its end, and the same hash if at its end."""
    if head is None:
        return
    header, seq, hash_ = last["header"], head["seq"], head["record_hash"]
    agrees = (
        head["namespace"] == header["namespace"]
        and type(seq) is int
        and isinstance(hash_, str)
        and SHA256_HEX.fullmatch(hash_) is not None
        and (seq > header["seq"] or (seq == header["seq"] and hash_ == last["record_hash"]))
    )
    if not agrees:
        raise Tampered(
            f"The chain head the export names (#{seq} {str(hash_)[:16]}) does not agree with its "
            f"records, which end at #{header['seq']} {last['record_hash'][:16]}."
        )


def _verify_events(content: dict[str, Any], export: dict[str, Any]) -> int:
    total = 0
    for kept in content["histories"]:
        events = kept["history"].get("events", [])
        for number, event in enumerate(events, start=1):
            if int(event.get("eventId", 0)) != number:
                raise Tampered(f"Run {kept['run_id']}: history event {number} is missing or out of place.")
        total += len(events)
    trail = content["trail"]
    for name in TRAIL_FIELDS[:-1]:
        if canonical(export.get(name)) != canonical(trail.get(name)):
            raise Tampered(f"The export's {name} is not the archived one.")
    shown, archived = export.get("entries") or [], trail["entries"]
    for number, (entry, kept) in enumerate(zip(shown, archived, strict=False), start=1):
        if canonical(entry) != canonical(kept):
            raise Tampered(f"Trail entry {number} ({kept.get('title', '')[:60]}) was altered in the export.")
    if len(shown) != len(archived):
        raise Tampered(
            f"The export shows {len(shown)} trail entries; the archived record has {len(archived)}."
        )
    return total


def _verify_actions(trail: dict[str, Any], pinned: list[VerifyingKey]) -> int:
    verified = 0
    for entry in trail["entries"]:
        data = entry.get("data") or {}
        action = data.get("action")
        if action not in ACTIONS or "update" not in data:
            continue
        update = value_to_type(ACTIONS[action], data["update"])
        if update.signature is None:
            raise Tampered(f"{entry['title'][:80]}: not signed by the portal.")
        refusal = signing.signature_refusal(
            action,
            update,
            pinned=pinned,
            workflow_id=trail["workflow_id"],
            update_id=data.get("update_id", ""),
            now=datetime.fromisoformat(update.signature.signed_at),
        )
        if refusal:
            raise Tampered(f"{entry['title'][:80]}: {refusal}")
        verified += 1
    return verified


def _pinned_keys(entries: list[dict[str, Any]]) -> list[VerifyingKey]:
    for entry in entries:
        started = (entry.get("data") or {}).get("input")
        if entry.get("kind") == "run" and isinstance(started, dict):
            return [value_to_type(VerifyingKey, key) for key in started.get("trusted_keys", [])]
    return []
