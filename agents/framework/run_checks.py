"""Whether a run may go on, and an activity may run: the checks of the workers' interceptor
(agents.framework.worker_keyring), taken in the workflow sandbox and in the activity worker.

A run goes on only if someone who may vouch for it made it:
- a new run: the portal's Ed25519 signature over its start (agents.framework.start_claims), by a
  key of the worker's keyring, made minutes before; and the start's seal (agents.framework.seals);
- a run continued as new: the seal of the worker that continued it.

On a run's first execution a refusal fails the run, having done nothing, and is recorded as a
marker, so a replay fails it again. A replay checks the seal again, since whoever completed the
run's first task wrote its history: a client with a Temporal credential could have taken that task
(an eager start hands it to the starter; a forged continuation sent to a queue of its own) and then
left the run to the workers, which only ever replay that first task. The signature is not checked
again (the keyring moves on with rotations; the payload keys that seals use are all kept), and a
replay that no seal vouches for raises RunNotVouchedFor: the task fails and is tried again, so the
run does nothing and stays in sight, never a failure its history does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.worker import ExecuteWorkflowInput

from agents.framework.carry_origin import carry_refusal
from agents.framework.seals import ACTIVITY, CONTINUATION, HEADERS, START, SealKeys
from agents.framework.start_claims import START_CLAIM_HEADER, StartClaim, input_digest, start_refusal

START_REFUSED_MARKER = "start-refused"
VOUCHED, VOUCHED_PREFIX = "vouched", "vouched-"
REFUSED_BEFORE = "This run's start was refused when it first ran: the portal did not sign it."
ACTIVITY_REFUSED = "ActivityRefused"


class RunNotVouchedFor(RuntimeError):
    """A replayed run no seal vouches for (its first task was completed by a client, not by a
    worker): the workflow task fails, and is tried again, so the run does nothing."""


@dataclass(frozen=True)
class RunChecks:
    """What a worker checks runs and activities with: the portal's published public keys, key id
    to key; the namespace's seal keys; and, for a rollout of seals only, the time before which a
    run or activity made without one goes on."""

    keyring: Mapping[str, str]
    seals: SealKeys
    unsealed_before: datetime | None = None

    def unsealed_allowed(self, made_at: datetime) -> bool:
        return self.unsealed_before is not None and made_at < self.unsealed_before


def start_verdict(input: ExecuteWorkflowInput, checks: RunChecks) -> str | None:
    """Why this run must not go on; None if it may (module docstring). Raises RunNotVouchedFor
    on a replay no seal vouches for."""
    info = workflow.info()
    continued = carry_refusal(True, info) is None  # the server made it from a continue-as-new
    digest = None if continued else input_digest(workflow.payload_converter(), input.args)
    if workflow.unsafe.is_replaying():
        if workflow.patched(START_REFUSED_MARKER):
            return REFUSED_BEFORE
        unsealed = unvouched_refusal(checks) or seal_refusal(input.headers, checks, digest)
        if unsealed:
            raise RunNotVouchedFor(f"{unsealed} (run {info.run_id}, replayed)")
        return None
    refusal = (None if continued else signature_refusal(input.headers, checks, digest or "")) or seal_refusal(
        input.headers, checks, digest
    )
    if refusal:
        workflow.patched(START_REFUSED_MARKER)
    else:
        # Deprecated: a worker without this interceptor (a rollback, the framework's benchmarks)
        # replays the run all the same; this one still finds the marker.
        workflow.deprecate_patch(_vouch_id(checks.seals, checks.seals.current))
    return refusal


def unvouched_refusal(checks: RunChecks) -> str | None:
    """Why this replayed run's first task is not a worker's: it holds no vouching marker, the one
    a worker records when it executes a run's first task and finds it may go on. A copied start or
    continuation seal vouches for input, not for who completed the first task with it."""
    # Asked before anything else: a recorded marker must be matched on every replay, or the replay
    # is nondeterministic (a run vouched for, then let through by the rollout time, say).
    if any(workflow.patched(_vouch_id(checks.seals, key_id)) for key_id in checks.seals.keys):
        return None
    if checks.unsealed_allowed(workflow.info().workflow_start_time):
        return None
    return "No worker executed this run's first task: a client completed it, so nothing it recorded is taken."


def _vouch_id(seals: SealKeys, key_id: str) -> str:
    """The vouching marker's id: a seal over the run's chain (its first run, which a reset keeps),
    under `key_id`."""
    info = workflow.info()
    claims = {"workflow_id": info.workflow_id, "first_execution_run_id": info.first_execution_run_id}
    return f"{VOUCHED_PREFIX}{key_id}-{seals.tag(VOUCHED, claims, key_id)[:32]}"


def signature_refusal(headers: Mapping[str, Payload], checks: RunChecks, digest: str) -> str | None:
    """Why this new run's start is not the portal's (first execution only: the claim ages)."""
    info = workflow.info()
    if info.cron_schedule or info.retry_policy is not None:  # runs again on the starter's input
        return "The portal starts no run on a schedule or with a retry policy: this one does nothing."
    return start_refusal(
        StartClaim.from_header(headers.get(START_CLAIM_HEADER)),
        keyring=checks.keyring,
        workflow_type=info.workflow_type,
        workflow_id=info.workflow_id,
        digest=digest,
        started_at=info.workflow_start_time,
    )


def seal_refusal(headers: Mapping[str, Payload], checks: RunChecks, digest: str | None) -> str | None:
    """Why no seal vouches for this run: its continuation's (`digest` None), else its start's."""
    info = workflow.info()
    if checks.unsealed_allowed(info.workflow_start_time):
        return None  # made while processes that did not seal may have run (the rollout)
    if digest is None:
        assert info.continued_run_id is not None  # a continued run
        claims = {
            "workflow_type": info.workflow_type,
            "workflow_id": info.workflow_id,
            "continued_run_id": info.continued_run_id,
        }
        refusal = checks.seals.refusal(headers.get(HEADERS[CONTINUATION]), CONTINUATION, claims)
        return f"This run continues another, but no worker continued it. {refusal}" if refusal else None
    claims = {"workflow_type": info.workflow_type, "workflow_id": info.workflow_id, "input_sha256": digest}
    refusal = checks.seals.refusal(headers.get(HEADERS[START]), START, claims)
    return f"This run's start is not the portal's. {refusal}" if refusal else None


def activity_seal(seals: SealKeys, activity_type: str) -> Payload:
    """The seal of an activity the current run schedules."""
    info = workflow.info()
    return seals.seal(ACTIVITY, _activity_claims(info.workflow_id, info.run_id, activity_type))


def activity_refusal(headers: Mapping[str, Payload], checks: RunChecks) -> str | None:
    """Why the current activity must not run: no worker's run scheduled it. A local activity
    never left the worker that runs it."""
    info = activity.info()
    if info.is_local or checks.unsealed_allowed(info.scheduled_time):
        return None
    claims = _activity_claims(info.workflow_id or "", info.workflow_run_id or "", info.activity_type)
    refusal = checks.seals.refusal(headers.get(HEADERS[ACTIVITY]), ACTIVITY, claims)
    return f"No worker's run scheduled this activity, so it does nothing. {refusal}" if refusal else None


def _activity_claims(workflow_id: str, run_id: str, activity_type: str) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "run_id": run_id, "activity_type": activity_type}
