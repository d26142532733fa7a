"""A gate projection that has been in use a while, filled in bulk (no Temporal) for inbox_scale.py,
page_weight.py and portal_load.py: loans, advice and regulatory gates across five queues, deadlines
spread over the SLA, some escalated, claimed or at risk, rows shaped as the agents publish them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

USERNAME = "bench-officer"  # the reviewer inbox_scale.py signs in as; it holds some of the gates
BATCH = 2000
FIRST_NAMES = ["Amira", "Bilal", "Chloe", "Dmitri", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jonas", "Kofi"]
LAST_NAMES = ["Haddad", "Okafor", "Rossi", "Novak", "Yilmaz", "Adeyemi", "Tanaka", "Silva", "Berg", "Murphy"]
QUEUES = [  # role, agent, share of the gates
    ("credit_officer", "loans", 0.55),
    ("senior_credit_officer", "loans", 0.10),
    ("compliance_reviewer", "regulatory", 0.20),
    ("licensed_adviser", "advice", 0.12),
    ("admin", "loans", 0.03),
]


def gate_rows(start: int, count: int, rng: random.Random) -> Iterator[Any]:
    """`count` projection rows, half pending and half decided, numbered from `start`."""
    from django.utils import timezone

    from reviewer_portal.inbox.models import Gate

    now = timezone.now()
    roles = [q[:2] for q in QUEUES]
    weights = [q[2] for q in QUEUES]
    for n in range(start, start + count):
        role, agent = rng.choices(roles, weights)[0]
        pending = n % 2 == 0
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        amount = Decimal(rng.randrange(1_000, 120_000, 500)) if agent == "loans" else None
        sla = 4 * 3600
        escalated = rng.random() < 0.1
        # Pending: anywhere in the SLA (a few just past it); decided: opened up to 30 days ago.
        left = timedelta(seconds=rng.uniform(-60, sla)) if pending else -timedelta(days=rng.uniform(0, 30))
        recommendation = rng.choices(["approve", "refer", "decline"], [0.6, 0.25, 0.15])[0]
        risks = (
            []
            if recommendation == "approve"
            else ["debt-to-income above 40 %", "recent default"][: rng.randint(1, 2)]
        )
        yield Gate(
            gate_id=f"{agent}-bench-{n:07d}--g1",
            workflow_id=f"{agent}-bench-{n:07d}",
            agent=agent,
            kind={"loans": "loan_decision", "advice": "advice_signoff", "regulatory": "finding"}[agent],
            subject=f"{name}: {amount or 0:,.0f} over 48 months, home improvement"
            if amount
            else f"{name}: {agent} case {n}",
            amount=amount,
            case={
                "applicant_name": name,
                "amount": float(amount or 0),
                "term_months": 48,
                "purpose": "renovation",
            },
            submitted_by="intake",
            recommendation=recommendation,
            rationale="Bureau score 742, debt-to-income 18%, monthly payment 451.20. " * 3,
            risk_factors=risks,
            tool_results=[
                {"name": "loans.credit_bureau", "ok": True, "result": {"bureau_score": 742, "defaults": 0}},
                {"name": "loans.affordability", "ok": True, "result": {"debt_to_income": 0.18}},
            ],
            model="gpt-4o-mini",
            role=role,
            status=Gate.Status.PENDING
            if pending
            else rng.choice([Gate.Status.APPROVED, Gate.Status.REJECTED]),
            sla_seconds=sla,
            opened_at=now + left - timedelta(seconds=sla),
            deadline=now + left,
            escalation_level=1 if escalated else 0,
            decided_by="" if pending else "someone",
            assignee=rng.choice([USERNAME, "colleague"]) if rng.random() < 0.1 else "",
            bulk_allowed=agent == "loans",
            version=1,
        )


def fill_to(pending: int, have: int, rng: random.Random) -> int:
    """Add gates until there are `pending` pending ones (and as many decided); returns the count."""
    from reviewer_portal.inbox.models import Gate

    total = 2 * pending
    rows = gate_rows(2 * have, total - 2 * have, rng)
    while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
        Gate.objects.bulk_create(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as a long-lived database would have statistics
    return pending
