"""Which AI outcomes are verdicts a person can agree with or override, per agent
(`AgentSpec.verdicts`): an approve-like outcome is agreed with by approving, a decline-like one by
rejecting; "refer" and tool-call gates carry none. Gates of an agent no longer registered count by
the defaults every agent had before agents declared their own."""

from __future__ import annotations

from django.db.models import Q

from agents.framework.contract import APPROVE, REJECT
from agents.framework.registry import AGENTS
from reviewer_portal.inbox.models import Gate

DEFAULT_VERDICTS = {"approve": APPROVE, "advise": APPROVE, "decline": REJECT, "no_action": REJECT}


def verdicts_of(agent: str) -> dict[str, str]:
    spec = AGENTS.get(agent)
    return dict(spec.verdicts) if spec is not None and spec.verdicts else DEFAULT_VERDICTS


def verdict_of(agent: str, outcome: str) -> str | None:
    """APPROVE, REJECT, or None when the outcome is no verdict."""
    return verdicts_of(agent).get(outcome)


def with_ai_verdict() -> Q:
    return _outcomes(APPROVE) | _outcomes(REJECT)


def agreed() -> Q:
    return (_outcomes(APPROVE) & Q(status=Gate.Status.APPROVED)) | (
        _outcomes(REJECT) & Q(status=Gate.Status.REJECTED)
    )


def _outcomes(verdict: str) -> Q:
    """Gates whose AI outcome is a `verdict` for their agent."""
    query = Q(pk__in=[])
    for name in AGENTS:
        outcomes = [o for o, v in verdicts_of(name).items() if v == verdict]
        query |= Q(agent=name, recommendation__in=outcomes)
    defaults = [o for o, v in DEFAULT_VERDICTS.items() if v == verdict]
    return query | (~Q(agent__in=list(AGENTS)) & Q(recommendation__in=defaults))
