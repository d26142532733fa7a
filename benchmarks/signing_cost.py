"""What signing a reviewer action costs the portal, and checking it costs the workflow.

    python benchmarks/signing_cost.py [--n 2000]

(a) the portal: build the canonical claims and sign them (Ed25519), as reviewer_portal.trust.signer
    does for every delivery of a decision;
(b) the workflow's validator: the input rules, then the signature check against the run's pinned
    key, as AgentWorkflow.validate_decide runs them before anything enters history.

Both on the same decision as the portal sends it (a reason, one edit, two roles), in this process,
interleaved so a noisy machine slows both alike. `benchmarks/decision_latency.py` prints these
figures too, beside the decision's round trip.

Then the checks of agents/framework/worker_keyring.py, on the same machine, interleaved with a
baseline each: (c) the worker's keyring check of the signed decision, beside (b); (d) a loan run's
start as the portal signs it (the input's digest and the signature, reviewer_portal.trust.
start_signing) and (e) as the worker checks it (the digest of the decoded input and the
signature), beside converting the input to payloads, which every start does anyway; (f) sealing
a continue-as-new and checking the seal (agents/framework/seals.py), beside the same; (g) what a
decision keeps of its gate (reviewer_portal/inbox/resend_checks.py), beside signing it.
Figures only: it never fails on them.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

TARGET_MS = 2.0  # signing plus verification, p50, per decision


@dataclass
class SigningCost:
    sign_us: list[float]
    verify_us: list[float]

    def p50(self, samples: list[float]) -> float:
        return statistics.median(samples)

    def p95(self, samples: list[float]) -> float:
        return statistics.quantiles(samples, n=20)[18]

    def lines(self) -> list[str]:
        total_ms = (self.p50(self.sign_us) + self.p50(self.verify_us)) / 1000
        verdict = "met" if total_ms <= TARGET_MS else "NOT met"
        return [
            f"{'':38} {'n':>5} {'p50 us':>9} {'p95 us':>9}",
            f"{'signing a decision (portal)':38} {len(self.sign_us):>5} "
            f"{self.p50(self.sign_us):>9.1f} {self.p95(self.sign_us):>9.1f}",
            f"{'verifying it (workflow validator)':38} {len(self.verify_us):>5} "
            f"{self.p50(self.verify_us):>9.1f} {self.p95(self.verify_us):>9.1f}",
            f"{'together, p50':38} {'':>5} {total_ms * 1000:>9.1f} {'':>9}   "
            f"target <= {TARGET_MS:g} ms: {verdict}",
        ]


def measure_signing(n: int = 2000) -> SigningCost:
    """Time `n` signings and `n` verifications of one decision, interleaved."""
    from agents.framework import input_rules, signing
    from agents.framework.reviewer_actions import DecideInput
    from reviewer_portal.trust.keys import generate
    from reviewer_portal.trust.signer import sign_action

    key = generate(key_id="bench-key")
    pinned = [key.verifying_key()]
    decision = DecideInput(
        gate_id="loan-0c6f3f1e-7a43-4a55-9f4e-1b7e6c1d2f00--g1",
        decision="approve",
        reason="Affordable on verified income; conditions agreed with the applicant.",
        reviewer="officer",
        reviewer_roles=["credit_officer", "senior_credit_officer"],
        edits={"conditions": "Proof of income before payout."},
        reviewer_id="1042",
        action_id="decide:loan-0c6f3f1e-7a43-4a55-9f4e-1b7e6c1d2f00--g1:6f1c",
        revision=0,
    )
    workflow_id, update_id = "loan-0c6f3f1e-7a43-4a55-9f4e-1b7e6c1d2f00", f"{decision.action_id}#1"
    cost = SigningCost([], [])
    for _ in range(n):
        started = time.perf_counter()
        signed = sign_action("decide", decision, workflow_id=workflow_id, update_id=update_id, key=key)
        cost.sign_us.append((time.perf_counter() - started) * 1e6)
        now = datetime.now(UTC)
        started = time.perf_counter()
        refusal = input_rules.action_input_refusal(signed) or signing.signature_refusal(
            "decide", signed, pinned=pinned, workflow_id=workflow_id, update_id=update_id, now=now
        )
        cost.verify_us.append((time.perf_counter() - started) * 1e6)
        if refusal:
            raise RuntimeError(f"the benchmark's own decision was refused: {refusal}")
    return cost


def measure_keyring_checks(n: int = 2000) -> list[str]:
    """(c)-(e): p50 microseconds of each, and its ratio to its baseline, interleaved."""
    from datetime import timedelta

    from django.test import override_settings
    from temporalio.client import StartWorkflowInput

    from agents.framework.codec import NamespaceKeys, new_key
    from agents.framework.seals import CONTINUATION, SealKeys
    from agents.framework.start_claims import input_digest, start_refusal
    from agents.framework.strict_json import STRICT_DATA_CONVERTER
    from agents.framework.worker_keyring import unpublished_key_refusal
    from benchmarks.loan_runs import loan_case_input
    from reviewer_portal.trust.keys import generate
    from reviewer_portal.trust.signer import sign_action
    from reviewer_portal.trust.start_signing import start_claim

    key = generate(key_id="bench-key")
    keyring = {key.key_id: key.public_key}
    converter = STRICT_DATA_CONVERTER.payload_converter
    with override_settings(PORTAL_SIGNING_KEY=key.to_json()):
        agent_input = loan_case_input()
    start = StartWorkflowInput.__new__(StartWorkflowInput)
    start.workflow, start.id, start.args = "AgentWorkflow", "loan-bench", [agent_input]
    decoded = converter.from_payloads(converter.to_payloads([agent_input]), [type(agent_input)])
    decision = sign_action("decide", _decision(), workflow_id="w", update_id="u", key=key)
    samples: dict[str, list[float]] = {
        name: [] for name in ("convert", "keyring", "sign start", "check start", "seal")
    }
    seals = SealKeys.derived_from(NamespaceKeys("k1", {"k1": new_key()}), "default")
    run = {"workflow_type": "AgentWorkflow", "workflow_id": "loan-bench", "continued_run_id": "run-1"}

    def check_start(claim: object, now: datetime) -> str | None:
        digest = input_digest(converter, decoded)
        return start_refusal(
            claim,
            keyring=keyring,
            workflow_type="AgentWorkflow",
            workflow_id="loan-bench",
            digest=digest,
            started_at=now,
        )

    def timed(name: str, call) -> object:
        began = time.perf_counter()
        result = call()
        samples[name].append((time.perf_counter() - began) * 1e6)
        return result

    for _ in range(n):
        timed("convert", lambda: converter.to_payloads([agent_input]))
        assert (
            timed("keyring", lambda: unpublished_key_refusal([decision], [key.verifying_key()], keyring))
            is None
        )
        claim = timed("sign start", lambda: start_claim(key, converter, start))
        now = datetime.now(UTC) + timedelta(seconds=1)
        assert timed("check start", partial(check_start, claim, now)) is None
        assert timed("seal", lambda: seals.refusal(seals.seal(CONTINUATION, run), CONTINUATION, run)) is None
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    return [
        f"{'(c) keyring check of the decision':38} {n:>5} {p50['keyring']:>9.1f}",
        f"{'(d) signing a loan start (portal)':38} {n:>5} {p50['sign start']:>9.1f}   "
        f"{p50['sign start'] / p50['convert']:.2f}x converting its input ({p50['convert']:.1f} us)",
        f"{'(e) checking it (worker, first task)':38} {n:>5} {p50['check start']:>9.1f}   "
        f"{p50['check start'] / p50['convert']:.2f}x converting its input",
        f"{'(f) sealing a continuation + checking':38} {n:>5} {p50['seal']:>9.1f}   "
        f"{p50['seal'] / p50['convert']:.2f}x converting a loan input",
    ]


def measure_decision_digests(n: int = 2000) -> str:
    """(g): what a decision keeps of its gate, to check it again if it is queued
    (reviewer_portal.inbox.resend_checks.seen_of), beside signing the same decision, interleaved."""
    import random

    from benchmarks.gate_rows import gate_rows
    from reviewer_portal.inbox.seen import seen_of
    from reviewer_portal.trust.keys import generate
    from reviewer_portal.trust.signer import sign_action

    gate = next(row for row in gate_rows(0, 50, random.Random(1)) if row.agent == "loans")
    key, decision = generate(key_id="bench-key"), _decision()
    signing_us, seen_us = [], []
    for _ in range(n):
        began = time.perf_counter()
        sign_action("decide", decision, workflow_id="w", update_id="u", key=key)
        signing_us.append((time.perf_counter() - began) * 1e6)
        began = time.perf_counter()
        seen_of(gate, reviewer_id="1042", bulk=True)
        seen_us.append((time.perf_counter() - began) * 1e6)
    seen, signing = statistics.median(seen_us), statistics.median(signing_us)
    return (
        f"{'(g) what a decision keeps of its gate':38} {n:>5} {seen:>9.1f}   "
        f"{seen / signing:.2f}x signing the decision ({signing:.1f} us)"
    )


def _decision():
    from agents.framework.reviewer_actions import DecideInput

    return DecideInput(
        gate_id="w--g1", decision="approve", reason="ok", reviewer="officer", reviewer_roles=["credit_officer"],
        reviewer_id="1042", action_id="decide:w--g1:1", revision=0,
    )  # fmt: skip


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="signings and verifications to time")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    import django

    django.setup()
    print("\n".join(measure_signing(args.n).lines()))
    print("\n".join(measure_keyring_checks(args.n)))
    print(measure_decision_digests(args.n))
    print(f"\ncommand: python benchmarks/signing_cost.py --n {args.n}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
