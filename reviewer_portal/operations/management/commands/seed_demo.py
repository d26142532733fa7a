"""Demo users, and a run of each demo case every registered agent declares (AgentSpec.demo_cases).
Idempotent: running it again changes nothing, because every demo case starts its run under a
stable id."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from agents.framework.registry import AGENTS, AgentSpec
from agents.framework.types import AgentInput
from agents.regulatory.demo import submit_demo_documents
from reviewer_portal.accounts import roles
from reviewer_portal.intake.outcomes import RunChanged, RunOfAnother, RunQueued
from reviewer_portal.intake.regulatory import regulatory_document_submit
from reviewer_portal.intake.services import agent_run_start, pinned_spec

# The portal's own demo user; each agent names the demo users of its roles (ReviewerRole.demo_user).
DEMO_USERS = {"auditor": [roles.AUDITOR]}


class Command(BaseCommand):
    help = "Create the demo users (password from DEMO_PASSWORD) and start the demo runs of every agent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users-only", action="store_true")

    def handle(self, *args: object, users_only: bool = False, **options: object) -> None:
        password = settings.DEMO_PASSWORD
        if not settings.DEBUG or not password:
            # Demo users share one known password: never on a production portal.
            raise CommandError(
                "seed_demo creates demo users with a shared password: it runs only with DEBUG."
            )
        for username, role_names in demo_users().items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.email = f"{username}@demo.bank.example"  # notifications print to the console
                user.save()
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in role_names])
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(password)
            admin.save()
        self.stdout.write(f"Demo users: {', '.join([*demo_users(), 'admin'])}")
        if users_only:
            return
        for name, spec in sorted(AGENTS.items()):
            for demo in spec.demo_cases() if spec.demo_cases else ():
                agent_input = AgentInput(
                    spec=pinned_spec(name), subject=demo.subject, case=demo.case, submitted_by=""
                )
                workflow_id = _demo_workflow_id(spec, demo.key)
                # Kept: deliver_decisions starts it. Another's: a demo run this database has no
                # record of (a database made afresh beside Temporal's state), left as it is.
                # Changed: a demo case edited in code since this database was seeded; the run
                # seeded then stands.
                with contextlib.suppress(RunQueued, RunOfAnother, RunChanged):
                    agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=admin)
                self.stdout.write(f"Demo {_demo_noun(spec)}: {workflow_id} ({demo.subject})")
        if "regulatory" in AGENTS:
            submit = functools.partial(_kept_if_busy, regulatory_document_submit, submitted_by=admin)
            for workflow_id in submit_demo_documents(submit):
                self.stdout.write(f"Demo document review: {workflow_id}")


def demo_users() -> dict[str, list[str]]:
    """The portal's demo users, and each role's demo user its agent names."""
    users = {name: list(roles_) for name, roles_ in DEMO_USERS.items()}
    for spec in AGENTS.values():
        for role in spec.roles:
            if role.demo_user and role.name not in users.get(role.demo_user, []):
                users.setdefault(role.demo_user, []).append(role.name)
    return users


def _demo_workflow_id(spec: AgentSpec, key: str) -> str:
    """Named as the agent's intake names its runs, so a demo run reads like a submitted one."""
    prefix = spec.intake.workflow_prefix if spec.intake else f"{spec.name}-"
    return f"{prefix}{_stable_id(f'demo-{spec.name}:{key}')}"


def _demo_noun(spec: AgentSpec) -> str:
    """What a demo run is called in the output: "loan application" after its intake's "New loan
    application" (scripts read these lines), else the agent's title."""
    return spec.intake.label.removeprefix("New ") if spec.intake else spec.title


def _stable_id(name: str) -> str:
    """A stable id per demo case, so a second run finds the runs the first one started."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _kept_if_busy(submit: Callable[..., str], /, **kwargs: Any) -> str:
    """A document submitted, or kept while Temporal is busy (deliver_decisions starts it), or a
    demo run this database has no record of, left as it is."""
    try:
        return submit(**kwargs)
    except (RunQueued, RunOfAnother, RunChanged) as not_started_here:
        return not_started_here.workflow_id
