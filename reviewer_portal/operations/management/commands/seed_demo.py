"""Demo users and demo agent runs (loans, advice, regulatory review). Idempotent: running it again
changes nothing, because every demo case starts its run under a stable id."""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from agents.advice.demo import demo_advice_cases
from agents.framework.registry import AGENTS
from agents.framework.types import AgentInput
from agents.regulatory.demo import submit_demo_documents
from reviewer_portal.accounts import roles
from reviewer_portal.intake.advice import advice_case_submit
from reviewer_portal.intake.regulatory import regulatory_document_submit
from reviewer_portal.intake.services import LoanApplication, agent_run_start, loan_application_submit

DEMO_USERS = {
    "officer": [roles.CREDIT_OFFICER],
    "senior": [roles.SENIOR_CREDIT_OFFICER],
    "compliance": [roles.COMPLIANCE_REVIEWER],
    "adviser": [roles.LICENSED_ADVISER],
    "auditor": [roles.AUDITOR],
}

DEMO_APPLICATIONS = [
    LoanApplication("Amira Haddad", 18_000, 48, "home improvement", 62_000, 450, 742),
    LoanApplication("Tomasz Nowak", 9_500, 36, "car", 41_000, 900, 668),
    LoanApplication("Grace Okafor", 35_000, 60, "debt consolidation", 38_000, 1_150, 601),
    LoanApplication("Liam Byrne", 72_000, 84, "business", 120_000, 800, 715),
    LoanApplication("Sofia Rossi", 4_000, 24, "education", 28_000, 150, 548),
]


class Command(BaseCommand):
    help = "Create the demo users (password from DEMO_PASSWORD) and submit demo loan applications."

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
        for application in DEMO_APPLICATIONS if "loans" in AGENTS else ():
            workflow_id = loan_application_submit(
                submitted_by=admin,
                application=application,
                submission_id=_stable_id(f"demo-loan:{application.applicant_name}"),
            )
            self.stdout.write(f"Demo loan application: {workflow_id} ({application.subject})")
        if "advice" in AGENTS:
            for case in demo_advice_cases():
                workflow_id = advice_case_submit(
                    submitted_by=admin,
                    customer_id=case.customer_id,
                    submission_id=_stable_id(f"demo-advice:{case.customer_id}"),
                )
                self.stdout.write(f"Demo advice case: {workflow_id} ({case.subject})")
        for name, spec in sorted(AGENTS.items()):
            for demo in spec.demo_cases() if spec.demo_cases else ():
                workflow_id = f"{name}-{_stable_id(f'demo-{name}:{demo.key}')}"
                agent_input = AgentInput(
                    spec=spec.pin(), subject=demo.subject, case=demo.case, submitted_by=""
                )
                agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=admin)
                self.stdout.write(f"Demo {spec.title}: {workflow_id} ({demo.subject})")
        if "regulatory" in AGENTS:
            submit = functools.partial(regulatory_document_submit, submitted_by=admin)
            for workflow_id in submit_demo_documents(submit):
                self.stdout.write(f"Demo document review: {workflow_id}")


def demo_users() -> dict[str, list[str]]:
    """The portal's demo users, and each role's demo user its agent names."""
    users = {name: list(roles_) for name, roles_ in DEMO_USERS.items()}
    for spec in AGENTS.values():
        for role in spec.roles:
            if role.demo_user:
                users.setdefault(role.demo_user, []).append(role.name)
    return users


def _stable_id(name: str) -> str:
    """A stable id per demo case, so a second run finds the runs the first one started."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))
