"""Part (1) of codec_cost.py: what encrypting costs per payload, on four payloads a loan run and a
review send (a signed `decide` Update, a run's input, a long model request, a document section),
through the portal's data converter with the codec and the same converter without it."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchmarks.figures import p50, p95
from benchmarks.loan_runs import NAMESPACE, approval, loan_case_input
from benchmarks.processes import BenchmarkError

if TYPE_CHECKING:
    from temporalio.converter import DataConverter

    from agents.framework.llm_types import LlmRequest
    from agents.framework.types import ToolResult

LLM_REQUEST_BYTES = 20_000
DOCUMENT_BYTES = 120 * 1024


def converters() -> tuple[DataConverter, DataConverter]:
    """(with the codec, without): the portal's converter, and the same with no payload codec."""
    from agents.framework.codec import EncryptionCodec
    from reviewer_portal.temporal_client import data_converter

    encrypted = data_converter(NAMESPACE)
    if not isinstance(encrypted.payload_codec, EncryptionCodec):
        raise BenchmarkError(f"The portal's converter has no encryption codec: {encrypted.payload_codec!r}")
    return encrypted, dataclasses.replace(encrypted, payload_codec=None)


# --- the payloads ---------------------------------------------------------------------------


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
        ("signed decide Update", approval(workflow_id, f"{workflow_id}--g1", update_id)),
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
