"""A run's audit trail, read from its Temporal Workflow history and decoded for people.

Payloads are decoded by the client's data converter, so whatever codec the cluster uses (the
encryption codec included) is undone here exactly as it is for the workflow itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, MarkerRecordedEventAttributes
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from agents.framework.contract import (
    FORGET_RESULTS_ACTIVITY,
    LLM_ACTIVITY,
    OPEN_RESULTS_ACTIVITY,
    PUBLISH_ACTIVITY,
    PUBLISH_CHANGE_ACTIVITY,
    PUBLISH_LOCAL_ACTIVITY,
    SEAL_RESULTS_ACTIVITY,
    SUMMARISE_ACTIVITY,
    SYSTEM_DECIDER,
)
from reviewer_portal.audit.entries import (
    GATE_KEYS,
    TimelineEntry,
    gate_role,
    refused_update_entry,
    update_entry,
)
from reviewer_portal.audit.first_seen import opened_when_first_seen, patch_of
from reviewer_portal.audit.framework_calls import credit_framework, made_by_framework

# The marker the SDK records for a local activity (agents.framework.tools, `local=True`).
LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass
class RunAudit:
    workflow_id: str
    run_id: str
    status: str
    entries: list[TimelineEntry]
    runs: list[str] = field(default_factory=list)


async def run_audit(*, client: Client, workflow_id: str, run_id: str = "") -> RunAudit:
    """The timeline of every run of `workflow_id` (its latest, or the chain ending in `run_id`):
    a run that continued-as-new reads as one."""
    histories, status = await fetch_histories(client, workflow_id, run_id)
    entries = await read_timeline(client.data_converter, histories)
    return RunAudit(workflow_id, histories[-1].run_id, status, entries, [h.run_id for h in histories])


async def fetch_histories(
    client: Client, workflow_id: str, run_id: str = ""
) -> tuple[list[WorkflowHistory], str]:
    """The histories of the chain ending in `run_id` (default: the latest run), oldest first, and
    the last run's status in words."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    description = await handle.describe()
    latest = await handle.fetch_history()
    previous = [
        await client.get_workflow_handle(workflow_id, run_id=earlier).fetch_history()
        for earlier in dict.fromkeys(await _previous_runs(client.data_converter, latest))  # each once
    ]
    status = description.status.name.replace("_", " ").lower() if description.status else "unknown"
    return [*previous, latest], status


async def read_timeline(
    converter: DataConverter, histories: Sequence[WorkflowHistory]
) -> list[TimelineEntry]:
    reader = _HistoryReader(converter)
    return [entry for history in histories for event in history.events for entry in await reader.read(event)]


async def _previous_runs(converter: DataConverter, history: WorkflowHistory) -> list[str]:
    """The run ids a continued run carries in its input (agents.framework.types.AgentState)."""
    started = history.events[0].workflow_execution_started_event_attributes
    values = await converter.decode(started.input.payloads) if started.input.payloads else []
    carry = values[0].get("carry") if values and isinstance(values[0], dict) else None
    return list(carry.get("previous_runs", [])) if isinstance(carry, dict) else []


class _HistoryReader:
    def __init__(self, converter: DataConverter) -> None:
        self._converter = converter
        self._scheduled: dict[int, tuple[str, Any]] = {}
        self._updates: dict[int, Any] = {}
        self._last_gate: dict[str, dict[str, Any]] = {}
        self._patches: set[str] = set()  # the patch markers of the run being read
        # The tool calls of a chain's first run before its first LLM call (None once it came, and
        # in a continued run): the framework's opening calls, as that call's input tells.
        self._before_first_llm: list[TimelineEntry] | None = None

    async def _decode(self, payloads: Payloads) -> list[Any]:
        return await self._converter.decode(payloads.payloads) if payloads.payloads else []

    async def _first(self, payloads: Payloads) -> Any:
        values = await self._decode(payloads)
        return values[0] if values else None

    async def read(self, event: HistoryEvent) -> Sequence[TimelineEntry]:
        when = event.event_time.ToDatetime(tzinfo=UTC)
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            self._patches = set()
            attrs = event.workflow_execution_started_event_attributes
            run_input = await self._first(attrs.input)
            run_input = run_input if isinstance(run_input, dict) else {}
            # Only a chain's first run makes opening calls; a continued one resumes the model's.
            self._before_first_llm = None if run_input.get("carry") else []
            if run_input.get("carry"):
                title = f"Run continued with pruned history (turn {run_input['carry'].get('turn', '?')})"
                return [TimelineEntry(when, "run", title, {"carry": run_input["carry"]})]
            who = run_input.get("submitted_by", "?")
            return [TimelineEntry(when, "run", f"Run started by {who}", {"input": run_input})]
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            attrs = event.workflow_execution_continued_as_new_event_attributes
            if self._before_first_llm is not None:  # continued before the model's first call
                carried = await self._first(attrs.input)
                carry = carried.get("carry") if isinstance(carried, dict) else None
                self._credit_opening_calls(carry if isinstance(carry, dict) else {}, carried=True)
            title = f"Continued as new run {attrs.new_execution_run_id} to keep history short"
            return [TimelineEntry(when, "run", title)]
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name, arg = attrs.activity_type.name, await self._first(attrs.input)
            self._scheduled[event.event_id] = (name, arg)
            if name == LLM_ACTIVITY and self._before_first_llm is not None:
                # Credited as the call is made: its input says who asked, whether or not it ends.
                self._credit_opening_calls(arg)
            return []
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name, arg = self._scheduled.get(attrs.scheduled_event_id, ("?", None))
            return self._activity_entry(when, name, arg, await self._first(attrs.result))
        if kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
            attrs = (
                event.activity_task_failed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else event.activity_task_timed_out_event_attributes
            )
            name, arg = self._scheduled.get(attrs.scheduled_event_id, ("?", None))
            data = {"activity": name, "input": arg, "failure": attrs.failure.message}
            return [self._failure_entry(when, name, attrs.failure.message, data)]
        if kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            return await self._local_activity(when, event.marker_recorded_event_attributes)
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            self._updates[event.event_id] = (request.input.name, await self._first(request.input.args))
            return []
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            attrs = event.workflow_execution_update_completed_event_attributes
            name, arg = self._updates.get(attrs.accepted_event_id, ("?", None))
            if attrs.outcome.HasField("failure"):  # taken by its validator, refused in its turn
                message = str(await self._converter.decode_failure(attrs.outcome.failure))
                return [refused_update_entry(when, name, arg, attrs.meta.update_id, message)]
            return [update_entry(when, name, arg, attrs.meta.update_id)]
        if kind == EventType.EVENT_TYPE_TIMER_FIRED:
            return [TimelineEntry(when, "timer", "SLA timer fired")]
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = await self._first(event.workflow_execution_completed_event_attributes.result)
            outcome = result.get("outcome", "?") if isinstance(result, dict) else "?"
            return [TimelineEntry(when, "run", f"Run completed: {outcome}", {"result": result})]
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            return [TimelineEntry(when, "failure", f"Run failed: {failure.message}")]
        return []

    def _activity_entry(self, when: datetime, name: str, arg: Any, result: Any) -> list[TimelineEntry]:
        if name == LLM_ACTIVITY:
            prompt = arg.get("prompt", {}) if isinstance(arg, dict) else {}
            title = f"LLM call: {result.get('model')} with prompt {prompt.get('id')} v{prompt.get('version')}"
            return [TimelineEntry(when, "llm", title, {"input": arg, "output": result})]
        if name == PUBLISH_ACTIVITY:
            return self._gate_entries(when, arg)
        if name == PUBLISH_CHANGE_ACTIVITY:
            gate = self._published_gate(arg)
            return self._gate_entries(when, gate) if gate is not None else []
        if name == SUMMARISE_ACTIVITY:
            summary = result.get("summary", "") if isinstance(result, dict) else ""
            title = f"Earlier turns summarised by {result.get('model') if isinstance(result, dict) else '?'}"
            return [TimelineEntry(when, "llm", title, {"summary": summary, "input": arg})]
        if name == SEAL_RESULTS_ACTIVITY:
            count = len(arg) if isinstance(arg, list) else "?"
            return [
                TimelineEntry(when, "run", f"{count} older results sealed beside history", {"results": arg})
            ]
        if name == OPEN_RESULTS_ACTIVITY:
            count = len(result) if isinstance(result, list) else "?"
            return [TimelineEntry(when, "run", f"{count} sealed results opened again", {"chunks": arg})]
        if name == FORGET_RESULTS_ACTIVITY:
            return [TimelineEntry(when, "run", f"{result} opened chunks deleted", {"chunks": arg})]
        if isinstance(arg, dict) and "gate_id" in arg and "recommendation" in arg:
            return [TimelineEntry(when, "action", f"Downstream action {name}", {"result": result})]
        return [self._tool_entry(when, name, {"arguments": arg, "result": result})]

    def _tool_entry(self, when: datetime, name: str, data: dict[str, Any]) -> TimelineEntry:
        entry = TimelineEntry(when, "tool", f"Tool call: {name}", {**data, "tool": name})
        if self._before_first_llm is not None:
            self._before_first_llm.append(entry)
        return entry

    def _failure_entry(self, when: datetime, name: str, message: str, data: dict[str, Any]) -> TimelineEntry:
        """A failed activity; before the first LLM call it may be a failed opening call, which is
        credited to the framework like the others (and keeps their order for their arguments)."""
        entry = TimelineEntry(when, "failure", f"{name} failed: {message}", {**data, "tool": name})
        if self._before_first_llm is not None:
            self._before_first_llm.append(entry)
        return entry

    def _credit_opening_calls(self, request: Any, *, carried: bool = False) -> None:
        """At a run's first LLM call, as it is made (or a continue-as-new before it): the calls
        before it that the framework made are marked so (reviewer_portal.audit.framework_calls)."""
        earlier, self._before_first_llm = self._before_first_llm or [], None
        credit_framework(
            earlier, made_by_framework(request if isinstance(request, dict) else {}, carried=carried)
        )

    async def _local_activity(
        self, when: datetime, marker: MarkerRecordedEventAttributes
    ) -> list[TimelineEntry]:
        """A tool run as a local activity (`local=True`): its marker holds its name and result
        (or failure); its arguments are in the call that asked for it (the model's reply, or the
        framework's turn, which `_credit_opening_calls` adds)."""
        if (patch := patch_of(marker)) is not None:
            self._patches.add(patch)
        if marker.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in marker.details:
            return []
        name = json.loads(marker.details["data"].payloads[0].data).get("activity_type", "?")
        if name == PUBLISH_LOCAL_ACTIVITY:
            return await self._published_locally(when, marker)
        if marker.HasField("failure"):
            message = str(await self._converter.decode_failure(marker.failure))
            return [self._failure_entry(when, name, message, {"activity": name, "failure": message})]
        result = await self._first(marker.details["result"]) if "result" in marker.details else None
        return [self._tool_entry(when, name, {"result": result, "local": True})]

    async def _published_locally(
        self, when: datetime, marker: MarkerRecordedEventAttributes
    ) -> list[TimelineEntry]:
        """A gate published in the workflow task that opened it: its marker's result holds the
        publication (agents.framework.gate_changes.LocalPublication). A failed try is followed
        by the same publication as a task, which the trail reads like any publish."""
        if marker.HasField("failure"):
            return []
        published = await self._first(marker.details["result"]) if "result" in marker.details else None
        publication = published.get("publication") if isinstance(published, dict) else None
        if not isinstance(publication, dict):  # never hidden: said, with what there is
            return [TimelineEntry(when, "gate", "Gate published (its publication could not be read)")]
        # A retried opening: the time reviewers first saw the gate, as the run took it.
        retried = opened_when_first_seen(publication, published.get("first_seen"), self._patches)
        entries = self._activity_entry(when, PUBLISH_CHANGE_ACTIVITY, retried.publication, None)
        return [*entries, TimelineEntry(when, "run", retried.note)] if retried.note else entries

    def _published_gate(self, publication: Any) -> dict[str, Any] | None:
        """The gate a publication describes: a whole snapshot, or a patch on the last one seen."""
        if not isinstance(publication, dict):
            return None
        if publication.get("snapshot"):
            return publication["snapshot"]
        patch = publication.get("patch") or {}
        base = self._last_gate.get(patch.get("gate_id", ""))
        if base is None:
            return None
        gate = {**base, **patch.get("changes", {})}
        gate["annotations"] = [*base.get("annotations", []), *patch.get("annotations", [])]
        gate["revisions"] = [*base.get("revisions", []), *patch.get("revisions", [])]
        return gate

    def _gate_entries(self, when: datetime, gate: dict[str, Any]) -> list[TimelineEntry]:
        previous = self._last_gate.get(gate["gate_id"])
        self._last_gate[gate["gate_id"]] = gate
        data = {key: gate.get(key) for key in GATE_KEYS}
        if previous is None:
            title = f"Gate opened for {gate_role(gate)} (recommendation: {gate['recommendation']['outcome']})"
        elif gate["status"] == "pending" and gate["escalation_level"] > previous["escalation_level"]:
            title = f"Gate escalated to {gate_role(gate)} (new deadline {gate['deadline']})"
        elif gate["decided_by"] == SYSTEM_DECIDER:
            title = f"Gate closed by SLA policy: {gate['reason']}"
        elif gate["status"] != "pending" and previous["status"] == "pending":
            # The run's own record of a person's decision (the Update entry is the request):
            # the whole gate as it stands, for the AI Act record's check of every column.
            title = f"Gate recorded as {gate['status'].replace('_', ' ')} by {gate['decided_by']}"
            data["snapshot"] = gate
        else:
            return []
        return [TimelineEntry(when, "gate", title, data)]
