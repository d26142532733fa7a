"""What a reviewer decides on in a gate, as one digest the run computes: it names the digest with
each publication of the gate, the portal's decision names the digest of the gate its page showed
(`DecideInput.content`), and the validator refuses a decision whose digest is not its gate's.

The revision count cannot tell two answers apart when a run is set back (a reset to before the
model's step): the gate opens again at the same revision and version with whatever the model
answers this time. The digest can.

It covers the case, the recommendation, the evidence, the proposed tool call and the earlier
revisions: never who holds the gate, its notes or its clock. Only workflow code computes it, over
the gate as the run holds it (the portal never digests its stored copy, which its database may have
changed: PostgreSQL's jsonb writes -0.0 as 0.0). A field holding its default is left out, so a
field a later release adds to one of these types leaves the digest of every gate that does not use
it as it was, during a rollout and after a rollback. Pure Python, no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from temporalio.converter import AdvancedJSONEncoder

from agents.framework.types import GateSnapshot

CONTENT_FIELDS = (
    "subject",
    "case",
    "recommendation",
    "tool_results",
    "tool_call",
    "editable",
    "model",
    "offline_model",
    "prompt",
    "revisions",
    "needs_attention",
)
DIGEST = re.compile(r"[0-9a-f]{64}")


def content_digest(gate: GateSnapshot) -> str:
    """The sha256 (hex) of what a reviewer decides on in `gate`."""
    content = {name: _canonical(getattr(gate, name)) for name in CONTENT_FIELDS}
    text = json.dumps(content, cls=AdvancedJSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """`value` with each dataclass as a mapping of its fields that do not hold their default. (A
    dataclass inside a field typed `Any` reaches a continued run as a mapping of all its fields:
    no gate holds one today.)"""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _holds_default(f, getattr(value, f.name))
        }
    if isinstance(value, dict):  # keys as JSON writes them, so a continued run's copy digests alike
        return {
            key if isinstance(key, str) else json.dumps(key): _canonical(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):  # in an order of their own, never the process's hashing
        return sorted((_canonical(item) for item in value), key=json.dumps)
    return value


def _holds_default(spec: dataclasses.Field[Any], value: Any) -> bool:
    if spec.default is not dataclasses.MISSING:
        return bool(value == spec.default)
    if spec.default_factory is not dataclasses.MISSING:
        return bool(value == spec.default_factory())
    return False
