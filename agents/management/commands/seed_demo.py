"""Demo users and demo loan applications. Idempotent: running it again changes nothing."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from reviewer_portal.accounts import roles
from reviewer_portal.intake.services import LoanApplication, loan_application_submit

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
        for username, role_names in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.save()
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in role_names])
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(password)
            admin.save()
        self.stdout.write(f"Demo users: {', '.join([*DEMO_USERS, 'admin'])}")
        if users_only:
            return
        for application in DEMO_APPLICATIONS:
            # A stable id per demo case, so a second run finds the runs the first one started.
            submission_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-loan:{application.applicant_name}"))
            workflow_id = loan_application_submit(
                submitted_by=admin, application=application, submission_id=submission_id
            )
            self.stdout.write(f"Demo loan application: {workflow_id} ({application.subject})")
