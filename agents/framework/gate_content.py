"""What a reviewer decides on, as one digest that the portal and the run compute alike.

The portal's decision names the digest of the gate its page showed (`DecideInput.content`); the
run refuses the decision if the gate it holds digests otherwise. The revision count cannot tell
them apart when a run is set back (a reset to before the model's step): the gate opens again at
the same revision with whatever the model answers this time, and the projection, already at that
version, keeps showing the first answer.

The digest covers the case, the recommendation, the evidence, the proposed tool call and the
earlier revisions: never who holds the gate, its notes or its clock. It is computed over the gate
as JSON, with unstorable characters replaced as the projection stores them, so the run's gate in
memory, its continued run's copy and the portal's row all digest the same. Pure Python, no I/O:
the workflow's Update validator calls it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from temporalio.converter import AdvancedJSONEncoder

from agents.framework.storable_text import storable
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
)
DIGEST = re.compile(r"[0-9a-f]{64}")


def content_digest(gate: GateSnapshot) -> str:
    """The sha256 (hex) of what a reviewer decides on in `gate`."""
    content = {name: getattr(gate, name) for name in CONTENT_FIELDS}
    as_json: Any = storable(json.loads(json.dumps(content, cls=AdvancedJSONEncoder)))
    text = json.dumps(as_json, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
