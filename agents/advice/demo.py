"""Demo advice cases, one per suitability rule, for seed_demo to submit."""

from __future__ import annotations

from dataclasses import dataclass

from agents.advice.data import CUSTOMERS, case_subject


@dataclass(frozen=True)
class AdviceCase:
    customer_id: str
    subject: str


def demo_advice_cases() -> list[AdviceCase]:
    """Every demo customer: advise (several kinds), no action, and a referral."""
    return [AdviceCase(customer_id, case_subject(customer_id)) for customer_id in CUSTOMERS]
