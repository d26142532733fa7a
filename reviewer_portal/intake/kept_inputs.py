"""A run's input as its submission keeps it until Temporal has confirmed the start: sealed with the
portal's secret, bound to its workflow id and dated, because it holds the run's policy and its
submitter, which someone able to write to the database must not choose, copy to another
submission, or put back from an old backup."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core import signing
from temporalio.converter import AdvancedJSONEncoder, value_to_type

from agents.framework.types import AgentInput

KEPT_INPUT_SALT = "reviewer_portal.intake.kept-run-input"
# A kept input older than this is not started: its submitter sends the form again, under the
# policy of the day (a run kept through a day-long outage, or a seal put back from a backup).
KEPT_INPUT_MAX_AGE = timedelta(days=1)


class KeptTooLong(ValueError):
    """A sealed input older than KEPT_INPUT_MAX_AGE."""


def input_to_keep(agent_input: AgentInput, workflow_id: str) -> dict[str, Any]:
    """The run's input as Temporal's JSON, sealed, bound to `workflow_id` and dated."""
    data = json.loads(json.dumps(agent_input, cls=AdvancedJSONEncoder))
    sealed = signing.dumps({"workflow_id": workflow_id, "input": data}, salt=KEPT_INPUT_SALT, compress=True)
    return {"sealed": sealed}


def kept_input(kept: Any, workflow_id: str) -> AgentInput:
    """The input `input_to_keep` sealed for `workflow_id`. Raises KeptTooLong if it is older than
    KEPT_INPUT_MAX_AGE, and ValueError if it is not one, was changed, or was sealed for another run."""
    sealed = kept.get("sealed") if isinstance(kept, dict) else None
    if not isinstance(sealed, str):
        raise ValueError("not a sealed run input")
    try:
        data = signing.loads(sealed, salt=KEPT_INPUT_SALT, max_age=KEPT_INPUT_MAX_AGE)
    except signing.SignatureExpired as err:
        raise KeptTooLong(str(err)) from err
    except signing.BadSignature as err:
        raise ValueError("changed since it was kept") from err
    if not isinstance(data, dict) or data.get("workflow_id") != workflow_id:
        raise ValueError("sealed for another run")
    try:
        agent_input: AgentInput = value_to_type(AgentInput, data["input"])
    except (KeyError, TypeError) as err:
        raise ValueError("not a run's input") from err
    return agent_input
