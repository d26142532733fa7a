"""What a form submitted, as one digest its submission keeps: the same form (its submission id)
sent again must submit the same, or it is refused rather than reported submitted with its change
dropped (as a reviewer's action reused with other content is, reviewer_portal.inbox.delivery)."""

from __future__ import annotations

import hashlib
import json

from temporalio.converter import AdvancedJSONEncoder

from agents.framework.types import AgentInput


def content_digest_of(agent_input: AgentInput) -> str:
    """The sha256 of the run's agent, subject and case as canonical JSON: what the submitter's
    values (or an upload's sha256, file name and title) became. Not the pinned spec, which a
    deployment between two sends of one form may change, nor what the portal adds itself."""
    content = {"agent": agent_input.spec.agent, "subject": agent_input.subject, "case": agent_input.case}
    canonical = json.dumps(
        content, cls=AdvancedJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
