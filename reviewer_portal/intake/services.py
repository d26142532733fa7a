"""Starting agent runs: the intake page and the demo command both submit through here."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from agents.framework.contract import AGENT_WORKFLOW
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput, AgentResult
from reviewer_portal.domains import domain_of
from reviewer_portal.temporal_client import TemporalUnreachable, get_client
from reviewer_portal.trust.keys import trusted_keys


class RunNotStarted(Exception):
    """Temporal could not be reached: nothing was started; the submitter may simply try again."""


@dataclass(frozen=True)
class LoanApplication:
    applicant_name: str
    amount: float
    term_months: int
    purpose: str
    annual_income: float
    monthly_debts: float
    credit_score: int

    @property
    def subject(self) -> str:
        return f"{self.applicant_name}: {self.amount:,.0f} over {self.term_months} months, {self.purpose}"


def loan_application_submit(
    *, submitted_by: AbstractBaseUser, application: LoanApplication, submission_id: str
) -> str:
    """Start the loan agent on `application`; returns the workflow id (the same on a resubmit)."""
    spec = AGENTS["loans"].pin(
        model=settings.LOAN_MODEL,
        sla_seconds=settings.LOAN_GATE_SLA_SECONDS,
        escalation_sla_seconds=settings.LOAN_ESCALATION_SLA_SECONDS,
    )
    agent_input = AgentInput(
        spec=spec, subject=application.subject, case={**application.__dict__}, submitted_by=""
    )
    workflow_id = f"loan-{submission_id}"
    agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    return workflow_id


def agent_run_start(*, workflow_id: str, agent_input: AgentInput, submitted_by: AbstractBaseUser) -> None:
    """Start an agent run on the configured task queue; starting the same id again is a no-op,
    so every intake page can key its runs by the form's submission id.

    The run records its submitter by username and immutable user id (four eyes), and pins the key
    the portal signs reviewer actions with. Raises RunNotStarted if Temporal cannot be reached.
    """
    agent_input = replace(
        agent_input,
        submitted_by=submitted_by.get_username(),
        submitted_by_id=str(submitted_by.pk),
        trusted_keys=trusted_keys(),
    )
    try:
        async_to_sync(_start)(workflow_id, agent_input)
    except (TemporalUnreachable, RPCError) as err:
        raise RunNotStarted(
            "Temporal is not reachable right now, so nothing was submitted. Try again."
        ) from err


async def _start(workflow_id: str, agent_input: AgentInput) -> None:
    domain = domain_of(agent_input.spec.agent)
    client = await get_client(domain.namespace)
    # A resubmitted form: the run it started the first time is the answer.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            AGENT_WORKFLOW,
            agent_input,
            result_type=AgentResult,
            id=workflow_id,
            task_queue=domain.task_queue,
            # A form submitted again, even after its run closed, never starts a second run.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
