"""Prompt versioning: runs pin the version they start with, history names it, auditors see it all."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.prompts import PROMPTS, Prompt, latest_prompt, pinned_prompt, register_prompts
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput, PromptRef
from agents.loans.intake import LoanApplication
from reviewer_portal.audit.prompt_selectors import prompt_usage
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from tests.conftest import (
    APPROVABLE,
    DECLINABLE,
    HISTORIES,
    decide,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
    wait_for_gate,
)

LOAN_PROMPT = "loans.prescreen"
SHA256 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def prompt_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder for test prompts; the registry is put back as it was afterwards."""
    saved = dict(PROMPTS)
    yield tmp_path
    PROMPTS.clear()
    PROMPTS.update(saved)


def add_prompt(folder: Path, prompt_id: str, version: int, text: str) -> Prompt:
    """Write a prompt file and register the folder, as a deploy with a new file would."""
    (folder / f"{prompt_id}.v{version}.md").write_text(text)
    register_prompts(folder)
    return PROMPTS[(prompt_id, version)]


_gate_numbers = itertools.count(1)


def make_gate(
    *, workflow_id: str, prompt: Prompt, status: str = "pending", decided_by: str = "", **fields
) -> Gate:
    number = next(_gate_numbers)
    opened = timezone.now() - timedelta(minutes=number)
    values: dict[str, Any] = {
        "gate_id": f"{workflow_id}-gate-{number}",
        "workflow_id": workflow_id,
        "agent": "loans",
        "kind": "loan_decision",
        "subject": f"Case {number}",
        "submitted_by": "intake",
        "recommendation": "approve",
        "rationale": "All lending policy checks passed.",
        "model": "offline model",
        "role": "credit_officer",
        "sla_seconds": 3600,
        "opened_at": opened,
        "deadline": opened + timedelta(hours=1),
        "version": 1,
        "prompt_id": prompt.id,
        "prompt_version": prompt.version,
        "prompt_sha256": prompt.sha256,
        "status": status,
        "decided_by": decided_by,
        **fields,
    }
    return Gate.objects.create(**values)


async def llm_prompts(converter: DataConverter, events: Iterable[HistoryEvent]) -> list[dict[str, Any]]:
    """The prompt ref each LLM activity in a history was scheduled with, decoded."""
    prompts = []
    for event in events:
        attrs = event.activity_task_scheduled_event_attributes
        if (
            event.HasField("activity_task_scheduled_event_attributes")
            and attrs.activity_type.name == LLM_ACTIVITY
        ):
            [request] = await converter.decode(attrs.input.payloads)
            prompts.append(request["prompt"])
    return prompts


def run_prompts(temporal, handle) -> list[dict[str, Any]]:
    history = temporal.run(handle.fetch_history())
    return temporal.run(llm_prompts(temporal.client.data_converter, history.events))


def loan_pinning(prompt_id: str, application: LoanApplication) -> AgentInput:
    spec = AGENTS["loans"].pin(prompt=latest_prompt(prompt_id).ref)
    return AgentInput(
        spec=spec, subject=application.subject, case={**application.__dict__}, submitted_by="intake"
    )


# --- the registry and pinning --------------------------------------------------------------------


def test_the_loans_agent_pins_its_latest_prompt_version_four():
    """Version 3 says the credit file and affordability come before the first turn (opening
    calls); version 4 that the policy check follows them there too."""
    text = (Path("agents/loans/prompts") / "loans.prescreen.v4.md").read_text()

    ref = AGENTS["loans"].pin().prompt

    assert ref == latest_prompt(LOAN_PROMPT).ref
    assert (ref.id, ref.version) == (LOAN_PROMPT, 4)
    assert ref.sha256 == Prompt(LOAN_PROMPT, 4, text).sha256
    assert "loans.lending_policy_check` with the bureau score" in text


# Every recorded run that called the model (a run continued at its open gate never does).
PLANNED_RUNS = sorted(p for p in HISTORIES.glob("*.json") if f'"{LLM_ACTIVITY}"' in p.read_text())


@pytest.mark.parametrize("path", PLANNED_RUNS, ids=lambda p: p.stem)
def test_recorded_runs_still_find_the_exact_prompt_they_pinned(path):
    """v1 stays byte-identical: a run recorded (or still running) with it must resume."""
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])

    prompts = asyncio.run(llm_prompts(data_converter(), history.events))

    assert prompts
    for prompt in prompts:
        assert pinned_prompt(PromptRef(**prompt)).version == prompt["version"]


def test_pinned_prompt_refuses_a_version_edited_in_place(prompt_folder):
    ref = add_prompt(prompt_folder, "test.edited", 1, "Be brief.\n").ref

    add_prompt(prompt_folder, "test.edited", 1, "Be brief and kind.\n")

    with pytest.raises(LookupError, match="edited in place"):
        pinned_prompt(ref)


def test_pinned_prompt_refuses_an_unknown_version_or_id(prompt_folder):
    ref = add_prompt(prompt_folder, "test.unknown", 1, "Be brief.\n").ref

    with pytest.raises(LookupError, match="not registered"):
        pinned_prompt(replace(ref, version=2))
    with pytest.raises(LookupError, match="not registered"):
        pinned_prompt(replace(ref, id="test.nobody"))


def test_a_run_keeps_the_prompt_it_started_with_and_new_runs_get_the_latest(
    temporal, transactional_db, prompt_folder, monkeypatch
):
    system_texts: dict[str, list[str]] = defaultdict(list)
    loans = AGENTS["loans"]

    def recording_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
        case = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
        system_texts[case["applicant_name"]].append(messages[0]["content"])
        return loans.offline_policy(messages)

    monkeypatch.setitem(AGENTS, "loans", replace(loans, offline_policy=recording_policy))
    v1 = add_prompt(prompt_folder, "test.pinning", 1, "Pre-screen the loan.\n")
    queue = f"test-{uuid.uuid4().hex[:10]}"

    def two_turns(agent_input: AgentInput) -> AgentInput:
        agent_input.spec.opening_calls_after = []  # the model asks for the policy check: two calls
        return agent_input

    # Both runs start before any worker serves the queue, so every LLM call of the early run
    # happens after v2 is registered.
    early = start_loan(temporal, queue, two_turns(loan_pinning("test.pinning", APPROVABLE)))
    v2 = add_prompt(prompt_folder, "test.pinning", 2, "Pre-screen the loan; cite the policy rule.\n")
    late = start_loan(temporal, queue, two_turns(loan_pinning("test.pinning", DECLINABLE)))

    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        wait_for_gate(temporal, early)
        wait_for_gate(temporal, late)
        early_gate, late_gate = projected_gate(early), projected_gate(late)

    early_prompts, late_prompts = run_prompts(temporal, early), run_prompts(temporal, late)
    assert len(early_prompts) == 2 and len(late_prompts) == 2  # the evidence came first (opening calls)
    assert all(PromptRef(**p) == v1.ref for p in early_prompts)
    assert all(PromptRef(**p) == v2.ref for p in late_prompts)
    assert system_texts[APPROVABLE.applicant_name] == [v1.text] * 2
    assert system_texts[DECLINABLE.applicant_name] == [v2.text] * 2
    assert (early_gate.prompt_version, early_gate.prompt_sha256) == (1, v1.sha256)
    assert (late_gate.prompt_version, late_gate.prompt_sha256) == (2, v2.sha256)


def test_every_llm_call_in_history_names_prompt_id_version_and_hash(temporal, loan_gate):
    handle, gate = loan_gate

    prompts = run_prompts(temporal, handle)

    assert len(prompts) == 1  # the answer (the evidence and the policy check came first: opening calls)
    for prompt in prompts:
        assert (prompt["id"], prompt["version"]) == (LOAN_PROMPT, 4)
        assert SHA256.fullmatch(prompt["sha256"])
        assert prompt["sha256"] == PROMPTS[(LOAN_PROMPT, 4)].sha256
    assert (gate.prompt_id, gate.prompt_version, gate.prompt_sha256) == (LOAN_PROMPT, 4, prompts[0]["sha256"])


# --- the governance pages ------------------------------------------------------------------------


@pytest.fixture
def governed(prompt_folder, db) -> tuple[Prompt, Prompt]:
    """Two versions of a test prompt: v1 used by two runs (one human decision), v2 by one."""
    v1 = add_prompt(
        prompt_folder, "test.govern", 1, "Check the file.\nCite <script>alert(1)</script> evidence.\n"
    )
    v2 = add_prompt(prompt_folder, "test.govern", 2, "Check the file.\nName the policy rule & evidence.\n")
    make_gate(workflow_id="wf-a", prompt=v1, status="approved", decided_by="officer")
    make_gate(workflow_id="wf-a", prompt=v1, status="rejected", decided_by="system")
    make_gate(workflow_id="wf-b", prompt=v1)
    make_gate(workflow_id="wf-c", prompt=v2, status="rejected", decided_by="senior")
    return v1, v2


def test_prompt_usage_counts_runs_and_human_decisions_in_one_query(governed, django_assert_num_queries):
    with django_assert_num_queries(1):
        usage = prompt_usage()

    assert (usage[("test.govern", 1)].runs, usage[("test.govern", 1)].decisions) == (2, 1)
    assert (usage[("test.govern", 2)].runs, usage[("test.govern", 2)].decisions) == (1, 1)
    assert usage[("test.govern", 1)].other_text_runs == 0


def test_the_prompt_list_shows_every_version_with_runs_decisions_and_the_latest(governed):
    v1, _ = governed
    auditor = logged_in(make_user("auditor", "auditor"))

    response = auditor.get("/audit/prompts/")

    assert response.status_code == 200
    family = next(f for f in response.context["families"] if f.id == "test.govern")
    rows = [(v.version, v.usage.runs, v.usage.decisions, v.latest) for v in family.versions]
    assert rows == [(2, 1, 1, True), (1, 2, 1, False)]
    page = response.content.decode()
    assert LOAN_PROMPT in page and "framework.summarise" in page
    assert 'href="/audit/prompts/test.govern/v1/"' in page and v1.sha256[:12] in page
    assert 'href="/audit/prompts/"' in page  # the nav link


def test_the_version_page_shows_the_escaped_text_the_diff_and_the_runs(governed):
    v1, _ = governed
    auditor = logged_in(make_user("auditor", "auditor"))

    first = auditor.get("/audit/prompts/test.govern/v1/").content.decode()
    second = auditor.get("/audit/prompts/test.govern/v2/").content.decode()

    assert "Cite &lt;script&gt;alert(1)&lt;/script&gt; evidence." in first
    assert "<script>alert" not in first and "<script>alert" not in second
    assert "The first version of this prompt." in first
    assert v1.sha256 in first
    assert 'href="/audit/wf-a/"' in first and 'href="/audit/wf-b/"' in first and "/audit/wf-c/" not in first
    assert '<del class="removed">-Cite &lt;script&gt;alert(1)&lt;/script&gt; evidence.</del>' in second
    assert '<ins class="added">+Name the policy rule &amp; evidence.</ins>' in second
    assert '<span class="context"> Check the file.</span>' in second
    assert 'href="/audit/wf-c/"' in second and "/audit/wf-a/" not in second


def test_a_run_that_pinned_another_text_under_the_same_version_is_flagged(governed):
    v1, _ = governed
    make_gate(workflow_id="wf-edited", prompt=v1, prompt_sha256="0" * 64)
    auditor = logged_in(make_user("auditor", "auditor"))

    usage = prompt_usage(prompt_id="test.govern")[("test.govern", 1)]
    page = auditor.get("/audit/prompts/test.govern/v1/").content.decode()

    assert (usage.runs, usage.other_text_runs) == (3, 1)
    assert "1 run pinned this version with another sha256" in page
    assert "pinned another text (000000000000)" in page


def test_versions_runs_used_but_this_portal_has_not_registered_are_listed_without_text(governed):
    make_gate(workflow_id="wf-old", prompt=Prompt("test.retired", 3, "Gone.\n"))
    auditor = logged_in(make_user("auditor", "auditor"))

    response = auditor.get("/audit/prompts/")

    family = next(f for f in response.context["families"] if f.id == "test.retired")
    [version] = family.versions
    assert (version.version, version.prompt, version.usage.runs, version.latest) == (3, None, 1, False)
    assert "Not registered on this portal" in response.content.decode()
    assert auditor.get("/audit/prompts/test.retired/v3/").status_code == 404


def test_only_auditors_and_admins_see_prompts_and_unknown_versions_are_404(governed):
    officer = logged_in(make_user("officer", "credit_officer"))
    auditor = logged_in(make_user("auditor", "auditor"))
    admin = logged_in(make_user("root", superuser=True))

    assert officer.get("/audit/prompts/").status_code == 403
    assert officer.get("/audit/prompts/test.govern/v1/").status_code == 403
    assert 'href="/audit/prompts/"' not in officer.get("/").content.decode()
    assert admin.get("/audit/prompts/test.govern/v2/").status_code == 200
    assert auditor.get("/audit/prompts/test.govern/v9/").status_code == 404
    assert auditor.get("/audit/prompts/test.nobody/v1/").status_code == 404
    assert auditor.post("/audit/prompts/").status_code == 405
    assert logged_in(make_user("nobody")).get("/audit/prompts/").status_code == 403
    assert Client().get("/audit/prompts/").status_code == 302


def test_a_decided_real_run_counts_against_the_loan_prompt_it_pinned(temporal, loan_gate):
    handle, gate = loan_gate
    decide(logged_in(make_user("officer", "credit_officer")), gate, reason="Clean file, affordable")
    deadline = time.monotonic() + 30
    while not Gate.objects.filter(pk=gate.pk, status="approved").exists():
        assert time.monotonic() < deadline, "the decision never reached the projection"
        time.sleep(0.1)
    auditor = logged_in(make_user("auditor", "auditor"))

    response = auditor.get(f"/audit/prompts/{LOAN_PROMPT}/v4/")

    usage = response.context["detail"].version.usage
    assert (usage.runs, usage.decisions) == (1, 1)
    assert f'href="/audit/{handle.id}/"' in response.content.decode()
    for older in ("v1", "v2", "v3"):
        earlier = auditor.get(f"/audit/prompts/{LOAN_PROMPT}/{older}/").context["detail"].version.usage
        assert (earlier.runs, earlier.decisions) == (0, 0)
