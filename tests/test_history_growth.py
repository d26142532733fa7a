"""A long loop costs history linearly: what continue-as-new carries stays bounded however many
sections a review has, and large payloads are stored once (issue 12, benchmarks/history_growth.py
for the figures)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from django.conf import settings
from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverClaim

from agents.framework.claim_check import FileClaimCheck
from agents.framework.contract import SEAL_RESULTS_ACTIVITY
from agents.framework.offline_model import _digest
from agents.framework.summarise import transcript
from agents.framework.types import ChatMessage, ToolCall
from agents.regulatory.documents import STORE_DIR_ENV, DocumentNotFound, DocumentStore
from agents.regulatory.rulebook import rules_matching
from agents.regulatory.tools import section_text
from benchmarks.history_growth import synthetic_document
from reviewer_portal.audit.timeline import run_audit
from tests import actions
from tests.conftest import loan_input, record_history, start_loan, wait_for_gate
from tests.test_regulatory import decide, scheduled, sections_read, start_review, wait_for_gates

pytestmark = pytest.mark.once  # the database is not what it tests: one CI pass

# 64 sections of about 2,500 characters with a medium or low finding every few, then one whose
# finding (AML-02, high) waits for a compliance reviewer.
LONG_DOCUMENT = synthetic_document(64) + "\n\n65. Payments\nCustomers may pay by cash deposits at any branch."
# What a continuation may carry: a few KB of digest, a few hundred bytes per finding and the gate
# waiting at the end (its evidence). The carry before issue 12 held every section read so far:
# over 100 KB by the middle of this review.
CARRY_BOUND_BYTES = 32 * 1024
DIGEST_BOUND_CHARS = 4000


@pytest.fixture(autouse=True)
def document_store(tmp_path, monkeypatch) -> DocumentStore:
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path / "documents"))
    return DocumentStore.from_env("default")


def claim_files() -> set[Path]:
    return {p for p in Path(settings.CLAIM_CHECK_DIR).rglob("*") if p.is_file()}


def test_a_long_review_finds_what_the_rulebook_does_and_carries_a_bounded_state(
    temporal, worker, document_store
):
    sections = document_store.sections(document_store.put(LONG_DOCUMENT).document_id)
    expected = {(i, rule.id) for i, s in enumerate(sections) for rule, _ in rules_matching(section_text(s))}
    assert len(sections) == 65 and len(expected) >= 20
    claims_before = claim_files()

    # Two turns per run: the review continues as new about 75 times, carrying at most four
    # results (of about 20 findings) in history.
    handle, first_run = start_review(temporal, worker, LONG_DOCUMENT, turns_per_run=2, carried_results_max=4)
    [gate] = wait_for_gates(temporal, handle, 1, timeout=300)
    decide(temporal, handle, gate.gate_id, reason="No MLRO referral for cash deposits.")
    result = temporal.run(handle.result(), timeout=300)

    report = result.action
    assert {(f["section"], f["rule"]) for f in report["findings"]} == expected
    assert report["unaddressed_matches"] == [] and report["refused_calls"] == []
    assert report["counts"] == {"approved": 1, "recorded": len(expected) - 1}
    # The answer's totals count the calls the digests only counted, too.
    assert "Reviewed 65 of 65 sections" in report["summary"]
    assert f"proposed {len(expected)} findings" in report["summary"]
    activities, runs = scheduled(temporal, handle, first_run)
    assert len(runs) >= 40 and sections_read(activities) == list(range(65))

    carried = [_started_input(temporal, handle, run_id) for run_id in runs[1:]]
    sizes = [size for size, _ in carried]
    assert max(sizes) < CARRY_BOUND_BYTES, sizes
    digests = [agent_input["carry"]["messages"][1]["content"] for _, agent_input in carried]
    assert max(len(d) for d in digests) < DIGEST_BOUND_CHARS
    # The findings are carried by reference, the section text not at all; past four, the oldest
    # are sealed beside history in chunks, and the carry holds the chunks' references.
    last = carried[-1][1]["carry"]
    assert {r["name"] for r in last["results"]} == {"regulatory.record_finding"}
    assert max(len(agent_input["carry"]["results"]) for _, agent_input in carried) <= 4
    sealed = last["sealed_results"]
    assert len(sealed) >= 5 and len(set(sealed)) == len(sealed)
    # Each chunk was written once, sealed, and deleted once the last run had opened them all.
    assert not list((document_store.directory / "results").rglob("*.json"))
    # The audit trail tells sealing and opening apart from the model's tool calls.
    audit = temporal.run(run_audit(client=temporal.client, workflow_id=handle.id))
    titles = [e.title for e in audit.entries]
    assert sum(t.endswith("older results sealed beside history") for t in titles) == len(sealed)
    assert sum(t.endswith("sealed results opened again") for t in titles) == 1  # once, for the report
    assert f"{len(sealed)} opened chunks deleted" in titles
    assert not any(t.startswith("Tool call: seal_results") or "open_sealed_results" in t for t in titles)
    # (the digest quotes the start of the latest result or two, bounded; nothing older).
    carried_text = json.dumps(carried[-1][1])
    assert not any(section.text[:80] in carried_text for section in sections[:60])

    # Nothing of it was large enough for the claim check, run after run; each finding is kept
    # once in the document store.
    assert claim_files() == claims_before
    findings = list((document_store.directory / "findings").glob("*.json"))
    assert len(findings) == len(expected)

    # The run that sealed first, and the last, which opened every chunk for the report.
    sealing = next(k for k, (_, agent_input) in enumerate(carried) if agent_input["carry"]["sealed_results"])
    record_history(
        temporal,
        temporal.client.get_workflow_handle(handle.id, run_id=runs[sealing]),
        "regulatory_sealed_results_sealing_run",
    )
    record_history(
        temporal,
        temporal.client.get_workflow_handle(handle.id, run_id=runs[-1]),
        "regulatory_sealed_results_last_run",
    )


def test_a_final_gate_shows_every_result_as_evidence_the_sealed_ones_too(temporal, worker, document_store):
    """A loan run continuing as new after every turn, carrying at most two results: by its gate
    its first results are sealed beside history, and the gate still shows every result, in order.
    (The offline loan model, seeing a summary where the tool results were, calls them again.)"""
    agent_input = loan_input()
    agent_input.spec.turns_per_run, agent_input.spec.carried_results_max = 1, 2
    agent_input.spec.opening_calls_after = []  # the model asks for the policy check: two turns
    handle = start_loan(temporal, worker, agent_input)
    gate = wait_for_gate(temporal, handle, timeout=60)

    started = temporal.run(handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    [carried] = temporal.run(temporal.client.data_converter.decode(started.input.payloads))
    sealed = carried["carry"]["sealed_results"]
    assert len(carried["carry"]["results"]) <= 2 and sealed
    # Deleted once opened: their results are in this run's history now.
    assert not list((document_store.root / "default" / "results").rglob("*.json"))
    # Every result: the sealed ones first (the first turn's bureau report), then those carried,
    # then this run's own.
    opened = sealed_in(temporal, handle, carried["carry"]["previous_runs"])
    carried_ids = [r["call_id"] for r in carried["carry"]["results"]]
    ids = [r.call_id for r in gate.tool_results]
    assert [asdict(r) for r in gate.tool_results[: len(opened)]] == opened
    assert opened[0]["name"] == "loans.credit_bureau"
    assert ids[len(opened) : len(opened) + len(carried_ids)] == carried_ids
    assert len(set(ids)) == len(ids)
    actions.decide(temporal, handle, gate.gate_id, "approve", "Affordable.", "officer", ["credit_officer"])
    result = temporal.run(handle.result())
    assert result.outcome == "approved" and len(result.gate.tool_results) == len(ids)
    record_history(temporal, handle, "loan_sealed_results_final_gate")


def sealed_in(temporal, handle, run_ids: list[str]) -> list[dict]:
    """What the runs sealed, in order: the seal_results activities' inputs in their histories
    (where the archive finds them too; the chunks themselves are deleted once opened)."""

    async def read() -> list[dict]:
        sealed: list[dict] = []
        for run_id in run_ids:
            history = await temporal.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            for event in history.events:
                scheduled = event.activity_task_scheduled_event_attributes
                if event.HasField("activity_task_scheduled_event_attributes") and (
                    scheduled.activity_type.name == SEAL_RESULTS_ACTIVITY
                ):
                    [results] = await temporal.client.data_converter.decode(scheduled.input.payloads)
                    sealed.extend(results)
        return sealed

    return temporal.run(read())


def _started_input(temporal, handle, run_id: str) -> tuple[int, dict]:
    """The size of a run's started event input as history holds it, and the input decoded."""

    async def read():
        history = await temporal.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [agent_input] = await temporal.client.data_converter.decode(started.input.payloads)
        return started.input.ByteSize(), agent_input

    return temporal.run(read())


def _call(n: int, name: str, index: int) -> ChatMessage:
    call = ToolCall(id=f"call_{n}", name=name, arguments={"document_id": "d" * 64, "index": index})
    return ChatMessage(role="assistant", tool_calls=[call])


def test_the_digest_is_summarised_again_not_appended_to():
    """Each continuation's summary condenses the previous one: its size stays the same however
    many turns the chain has had, and the calls it drops are still counted by tool."""
    case = ChatMessage(role="user", content='{"document_id": "x"}')
    summary, sizes = None, []
    for run in range(40):
        turns = []
        for n in range(4):
            index = run * 2 + n // 2
            name = "regulatory.read_section" if n % 2 == 0 else "regulatory.rulebook_search"
            turns += [
                _call(n, name, index),
                ChatMessage(role="tool", content=json.dumps({"text": "x" * 1000}), tool_call_id=f"call_{n}"),
            ]
        old = [summary, *turns] if summary else turns
        digest = _digest({"messages": [{"content": transcript(old)}]})
        summary = ChatMessage(role="user", content=f"Summary of the earlier turns:\n{digest}")
        sizes.append(len(summary.content or ""))
    assert case.content  # the case message is never summarised (pruning keeps it first)
    assert max(sizes[5:]) - min(sizes[5:]) < 200 and max(sizes) < DIGEST_BOUND_CHARS
    [tally] = [line for line in (summary.content or "").splitlines() if line.startswith("CALLS ")]
    counts = json.loads(tally.removeprefix("CALLS "))
    listed = [line for line in (summary.content or "").splitlines() if line.startswith("CALL ")]
    assert sum(counts.values()) + len(listed) == 40 * 4
    assert any('"index": 79' in line for line in listed)  # the latest read is always listed


def test_the_claim_check_stores_a_payload_once_and_never_rewrites_it(tmp_path):
    store = FileClaimCheck(tmp_path)
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"section": "' + b"x" * 200_000 + b'"}')

    first = store._store(payload)
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]
    written = path.stat().st_mtime_ns, path.stat().st_ino
    second = store._store(Payload.FromString(payload.SerializeToString(deterministic=True)))
    third = store._store(Payload(metadata={"encoding": b"json/plain"}, data=b'{"other": 1}'))

    assert first.claim_data == second.claim_data != third.claim_data
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 2
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written
    assert store._retrieve(first) == payload


def test_a_tampered_or_missing_claim_check_file_fails_loudly(tmp_path):
    store = FileClaimCheck(tmp_path)
    claim = store._store(Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}'))
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]

    path.write_bytes(path.read_bytes().replace(b'"a"', b'"b"'))
    with pytest.raises(ValueError, match="corrupt"):
        store._retrieve(claim)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        store._retrieve(claim)
    with pytest.raises(FileNotFoundError):
        store._retrieve(StorageDriverClaim(claim_data={"sha256": "ab" * 32}))


def test_a_finding_is_kept_once_and_a_tampered_or_missing_one_fails_loudly(document_store):
    finding = {"finding_id": "f1", "index": 3, "rule": "CD-01", "excerpt": "An exit fee applies."}
    ref = document_store.put_finding(finding)
    [path] = list((document_store.directory / "findings").glob("*.json"))
    written = path.stat().st_mtime_ns

    assert document_store.put_finding(dict(finding)) == ref and path.stat().st_mtime_ns == written
    assert document_store.finding(ref) == finding
    other = document_store.put_finding({**finding, "index": 4})
    assert other != ref and len(list(path.parent.glob("*.json"))) == 2

    path.write_bytes(path.read_bytes()[:-3] + b"xyz")  # sealed: the ciphertext no longer opens
    with pytest.raises(ValueError):
        document_store.finding(ref)
    path.unlink()
    with pytest.raises(DocumentNotFound):
        document_store.finding(ref)
    with pytest.raises(ValueError, match="64 hex"):
        document_store.finding("../../etc/passwd")
