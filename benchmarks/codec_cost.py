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
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.codec_payloads import converters, measure_payloads, payload_lines
from benchmarks.figures import command_line, p50, p95
from benchmarks.loan_runs import (
    NAMESPACE,
    GateWatcher,
    RunSample,
    connect,
    one_loan_run,
    start_server,
    start_workers,
)
from benchmarks.processes import BenchmarkError
from benchmarks.scratch import scratch_files, throwaway_keys

if TYPE_CHECKING:
    from temporalio.client import Client


def setup_django(stem: Path) -> None:
    """Throwaway keys, database and claim-check directory; then Django, migrated."""
    os.environ["DATABASE_URL"] = f"sqlite:///{stem}.sqlite3"
    os.environ["CLAIM_CHECK_DIR"] = str(stem.with_name(f"{stem.name}-claims"))
    os.environ.update(throwaway_keys("bench-codec", namespaces=(NAMESPACE,)))
    os.environ["TEMPORAL_NAMESPACE"] = NAMESPACE
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


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
            client_on = await connect(address, dataclasses.replace(encrypted, payload_codec=counting))
            client_off = await connect(address, plain)
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
        with scratch_files("bench-codec", args.keep) as stem:
            setup_django(stem)
            print(f"Timing {args.samples} samples of each payload...", file=sys.stderr)
            costs = asyncio.run(measure_payloads(args.samples))
            measured = asyncio.run(measure_loan_runs(args.runs, args.warmup))
    except BenchmarkError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        return 1
    command = command_line("-m", "benchmarks.codec_cost", argv=argv)
    print("\n".join([*payload_lines(costs, args.samples), "", *run_lines(measured, args.warmup)]))
    print(f"\ncommand: {command}   ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    # Run as a script, the agents' modules must still be importable (for the workflow sandbox).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.codec_cost import main as bench_main

    sys.exit(bench_main())
