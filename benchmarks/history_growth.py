"""History growth of a long loop: the regulatory review of a synthetic document of N sections.

    python benchmarks/history_growth.py [--temporal HOST:PORT] [--sections 10,100,1000]

Each size runs the real regulatory-review agent (the real AgentWorkflow, its tools, the offline
model, its spec's `turns_per_run`) on one worker against a Temporal server, with the portal's
converter (strict JSON, payloads encrypted with a key made for the run, the claim check over
`--threshold` bytes into a directory of its own per size). The portal's publish and notify
activities are stand-ins (benchmarks/agent_runs.py). The synthetic document has sections of about
2,500 characters, each with different text; every fifth has a medium finding (an undisclosed exit
fee) and every seventh a low one (no Financial Ombudsman mention), so no finding waits for a
reviewer.

Once the review has finished, every run of its continue-as-new chain is read back: the sum of the
runs' history sizes (serialised protobuf, as the server keeps them), how many runs, and the
largest workflow-started event of a continued run (what continue-as-new carried). The bytes kept
beside history are summed: the claim-check directory, and the chunks of older findings the chain
sealed in the document store (agents/framework/result_store.py), as the seal steps' inputs in
history (the run deletes the files once it has opened them, so this is the most the store held). It checks the report found what
the document holds, and ends with one row per size: `per section  <sections>  <history bytes>
<claim-check bytes>` (bytes per section, whole numbers; the claim-check figure counts both).
Figures only: it never fails on them.

It needs only a Temporal server: if nothing listens at `--temporal`, it starts the dev server
from this virtualenv's `temporal` on a free port. No database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the framework is imported where used: run as a script, the repo is on the path late
    from temporalio.client import Client
    from temporalio.converter import DataConverter

FINDING_EVERY = {"CD-01": 5, "CH-02": 7}
WORDS = [
    "branch",
    "counter",
    "opening",
    "hours",
    "weekday",
    "morning",
    "afternoon",
    "staff",
    "desk",
    "queue",
    "visit",
    "card",
    "account",
    "statement",
    "online",
    "banking",
    "app",
    "password",
    "sort",
    "code",
    "transfer",
    "standing",
    "order",
    "direct",
    "debit",
    "payee",
    "address",
    "letter",
    "telephone",
    "leaflet",
    "window",
    "notice",
    "poster",
    "screen",
    "printer",
    "form",
    "signature",
    "stamp",
]


@dataclass
class Figures:
    sections: int
    seconds: float
    runs: int
    history_bytes: int
    largest_carry: int
    claim_files: int
    claim_bytes: int
    sealed_chunks: int
    sealed_bytes: int
    findings: int


def synthetic_document(sections: int) -> str:
    """`sections` numbered sections of about 2,500 characters, each text different."""
    parts = []
    for n in range(1, sections + 1):
        words = [WORDS[(n * 7 + i * 13 + i * i) % len(WORDS)] for i in range(380)]
        sentences = [" ".join(words[i : i + 19]).capitalize() + f" {n}-{i}." for i in range(0, 380, 19)]
        if n % FINDING_EVERY["CD-01"] == 0:
            sentences.append("An exit fee applies if you close the account in the first year.")
        if n % FINDING_EVERY["CH-02"] == 0:
            sentences.append("You can complain to us by phone or in writing. We reply within 8 weeks.")
        parts.append(f"{n}. Section {n} of the branch guide\n" + " ".join(sentences))
    return "\n\n".join(parts)


def expected_findings(sections: int) -> int:
    return sum(sections // every for every in FINDING_EVERY.values())


def converter(claims: Path, threshold: int) -> DataConverter:
    """The portal's converter (reviewer_portal/temporal_client.py) without Django settings."""
    from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

    from agents.framework.claim_check import with_claim_check
    from agents.framework.codec import EncryptionCodec, PayloadKeys
    from agents.framework.strict_json import STRICT_DATA_CONVERTER

    keys = PayloadKeys.from_env().of("default")
    encrypted = dataclasses.replace(
        STRICT_DATA_CONVERTER,
        payload_codec=EncryptionCodec(keys, "default"),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    return with_claim_check(encrypted, claims, threshold)


async def chain_sizes(client: Client, workflow_id: str, first_run: str) -> tuple[int, int, int, int, int]:
    """(runs, sum of history bytes, largest started event of a continued run, chunks sealed,
    their bytes) of the chain."""
    from temporalio.api.history.v1 import History

    from agents.framework.contract import SEAL_RESULTS_ACTIVITY

    run_id: str | None = first_run
    runs = total = largest = chunks = sealed = 0
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs += 1
        total += History(events=history.events).ByteSize()
        if runs > 1:
            largest = max(largest, history.events[0].ByteSize())
        for event in history.events:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == SEAL_RESULTS_ACTIVITY:
                chunks, sealed = chunks + 1, sealed + scheduled.input.ByteSize()
        run_id = next(
            (
                e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                for e in history.events
                if e.HasField("workflow_execution_continued_as_new_event_attributes")
            ),
            None,
        )
    return runs, total, largest, chunks, sealed


async def review(address: str, scratch: Path, sections: int, threshold: int, timeout: float) -> Figures:
    from temporalio.client import Client

    from agents.framework.workflow import AgentWorkflow
    from agents.regulatory import REGULATORY_AGENT, review_input
    from agents.regulatory.documents import DocumentStore
    from benchmarks.agent_runs import agent_worker

    claims = scratch / f"claims-{sections}"
    client = await Client.connect(address, data_converter=converter(claims, threshold))
    document = DocumentStore.from_env("default").put(synthetic_document(sections))
    assert document.sections == sections, document
    agent_input = review_input(
        document=document, title=f"Branch guide ({sections} sections)", uploaded_by="bench"
    )
    workflow_id = f"bench-history-{sections}-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-activity") as executor:
        queue = f"bench-history-{uuid.uuid4().hex[:10]}"
        async with agent_worker(client, queue, [REGULATORY_AGENT], executor):
            started = time.perf_counter()
            handle = await client.start_workflow(
                AgentWorkflow.run, agent_input, id=workflow_id, task_queue=queue
            )
            result = await asyncio.wait_for(handle.result(), timeout)
            seconds = time.perf_counter() - started
    report = result.action
    if report.get("outcome") != "report" or report.get("unaddressed_matches"):
        print(
            f"  {sections}: the review did not finish as expected: {report.get('summary')}", file=sys.stderr
        )
    runs, history_bytes, largest, chunks, sealed = await chain_sizes(
        client, workflow_id, handle.result_run_id or ""
    )
    files = [p for p in claims.rglob("*") if p.is_file()]
    return Figures(
        sections=sections,
        seconds=seconds,
        runs=runs,
        history_bytes=history_bytes,
        largest_carry=largest,
        claim_files=len(files),
        claim_bytes=sum(p.stat().st_size for p in files),
        sealed_chunks=chunks,
        sealed_bytes=sealed,
        findings=len(report.get("findings", [])),
    )


def report_lines(figures: list[Figures], server: str) -> list[str]:
    from benchmarks.figures import command_line

    lines = [
        f"History growth: regulatory review of a synthetic document, offline model; Temporal {server}",
        "",
    ]
    header = (
        "sections",
        "seconds",
        "runs",
        "history",
        "largest carry",
        "claim files",
        "claim bytes",
        "sealed chunks",
        "sealed bytes",
        "findings",
    )
    lines.append("".join(f"{h:>14}" for h in header))
    for f in figures:
        found = f"{f.findings}/{expected_findings(f.sections)}"
        cells = (
            f.sections,
            f"{f.seconds:.1f}",
            f.runs,
            f.history_bytes,
            f.largest_carry,
            f.claim_files,
            f.claim_bytes,
            f.sealed_chunks,
            f.sealed_bytes,
            found,
        )
        lines.append("".join(f"{c:>14}" for c in cells))
    lines += ["", f"command: {command_line('benchmarks/history_growth.py')}"]
    lines += [
        f"per section  {f.sections}  {f.history_bytes // f.sections}  {(f.claim_bytes + f.sealed_bytes) // f.sections}"
        for f in figures
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--sections", default="10,100,1000", help="document sizes, comma-separated")
    parser.add_argument("--threshold", type=int, default=128 * 1024, help="claim-check threshold, bytes")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one review may take")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sections.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        parser.error("--sections takes positive whole numbers")

    from agents.framework.codec import KEYS_ENV, generate
    from benchmarks.processes import BenchmarkError, temporal_server

    figures: list[Figures] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-history-growth-") as folder:
            scratch = Path(folder)
            os.environ[KEYS_ENV] = generate(["default"]).to_json()
            os.environ["DOCUMENT_STORE_DIR"] = str(scratch / "documents")
            with temporal_server(args.temporal, scratch / "temporal.log") as (address, started):
                for sections in sizes:
                    print(f"reviewing {sections} sections...", file=sys.stderr)
                    figures.append(
                        asyncio.run(review(address, scratch, sections, args.threshold, args.timeout))
                    )
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    server = f"{address} ({'dev server started by the benchmark' if started else 'existing server'})"
    print("\n".join(report_lines(figures, server)))
    return 0


if __name__ == "__main__":
    # Run as a script: put the repository on the path and use this module by its package name.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.history_growth import main as bench_main

    sys.exit(bench_main())
