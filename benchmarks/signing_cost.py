"""What signing a reviewer action costs the portal, and checking it costs the workflow.

    python benchmarks/signing_cost.py [--n 2000]

(a) the portal: build the canonical claims and sign them (Ed25519), as reviewer_portal.trust.signer
    does for every delivery of a decision;
(b) the workflow's validator: the input rules, then the signature check against the run's pinned
    key, as AgentWorkflow.validate_decide runs them before anything enters history.

Both on the same decision as the portal sends it (a reason, one edit, two roles), in this process,
interleaved so a noisy machine slows both alike. `benchmarks/decision_latency.py` prints these
figures too, beside the decision's round trip. Figures only: it never fails on them.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="signings and verifications to time")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewer_portal.settings")
    import django

    django.setup()
    print("\n".join(measure_signing(args.n).lines()))
    print(f"\ncommand: python benchmarks/signing_cost.py --n {args.n}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
