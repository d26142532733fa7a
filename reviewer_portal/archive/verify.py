"""Verifying an audit export offline (`manage.py audit_verify FILE`): no database, no Temporal
server, no keys but the portal's public keys the run itself pinned. In this order, stopping at
the first thing wrong:

1. the chain: each record's hash is its header's, each follows the one before it (no record
   missing), the last is the head the export names (and the one the auditor expects, if given);
2. the content: the archived record's content hashes to what its header says;
3. the events: every run's history is whole (event ids 1, 2, ... with none missing), and every
   entry of the readable trail the export shows is the archived one, unaltered;
4. the signatures: every reviewer action in the trail verifies against the run's pinned keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.converter import value_to_type

from agents.framework import signing
from agents.framework.reviewer_actions import AnnotateInput, AssignInput, DecideInput
from agents.framework.types import VerifyingKey
from reviewer_portal.archive.hashing import content_sha256, record_hash

ACTIONS = {"decide": DecideInput, "annotate": AnnotateInput, "assign": AssignInput}
TRAIL_FIELDS = ("workflow_id", "run_id", "status", "runs", "entries")


class Tampered(Exception):
    """The first thing wrong with an export, in words."""


@dataclass(frozen=True)
class Verified:
    summary: str


def verify_export(data: bytes, *, expect_head: str = "") -> Verified:
    try:
        export = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Tampered(f"The file is not an audit export (not JSON: {err}).") from None
    if not isinstance(export, dict) or not str(export.get("format", "")).startswith(
        "reviewer-portal/audit-export/"
    ):
        raise Tampered("The file is not an audit export of the reviewer portal.")
    archive = export.get("archive")
    if not archive:
        raise Tampered(
            "This export has no archive record: the run was not archived yet, so nothing proves it."
        )
    records = archive.get("records") or []
    if not records or "content" not in records[0]:
        raise Tampered(
            "The export's archive record has no content (it was purged, or removed from the file)."
        )
    head = _verify_chain(records, archive.get("head") or {}, expect_head)
    content = records[0]["content"]
    first = records[0]["header"]
    if content_sha256(content) != first["content_sha256"]:
        raise Tampered(
            f"Record #{first['seq']}: its content was changed (it no longer hashes to its header's)."
        )
    events = _verify_events(content, export)
    actions = _verify_signatures(content["trail"])
    return Verified(
        f"OK: {export['workflow_id']} is record #{first['seq']} of {first['namespace']}'s archive, chained to "
        f"head #{head['seq']} {head['record_hash'][:16]}; {events} events in {len(content['histories'])} "
        f"run(s) whole; {len(export['entries'])} trail entries as archived; {actions} signed reviewer "
        "action(s) verified."
    )


def _verify_chain(records: list[dict[str, Any]], head: dict[str, Any], expect_head: str) -> dict[str, Any]:
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
    assert previous is not None
    last = previous["header"]
    if (head.get("seq"), head.get("record_hash")) != (last["seq"], previous["record_hash"]):
        raise Tampered(
            f"The chain ends at record #{last['seq']}, not at the head the export names (#{head.get('seq')}): "
            "records are missing after it."
        )
    if expect_head and not previous["record_hash"].startswith(expect_head):
        raise Tampered(
            f"The chain's head {previous['record_hash'][:16]} is not the expected {expect_head[:16]}."
        )
    return head


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
        if export.get(name) != trail.get(name):
            raise Tampered(f"The export's {name} is not the archived one.")
    shown, archived = export.get("entries") or [], trail["entries"]
    for number, (entry, kept) in enumerate(zip(shown, archived, strict=False), start=1):
        if entry != kept:
            raise Tampered(f"Trail entry {number} ({kept.get('title', '')[:60]}) was altered in the export.")
    if len(shown) != len(archived):
        raise Tampered(
            f"The export shows {len(shown)} trail entries; the archived record has {len(archived)}."
        )
    return total


def _verify_signatures(trail: dict[str, Any]) -> int:
    pinned = _pinned_keys(trail["entries"])
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
