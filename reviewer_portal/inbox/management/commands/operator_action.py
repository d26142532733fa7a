"""`python manage.py operator_action GATE_ID ACTION --as ADMIN [--reason ...]`: act on a gate from
outside the portal's pages, e.g. an admin override or a gate stuck with an absent reviewer.

The action is recorded, signed as the named admin and delivered exactly like a reviewer's, with
origin "operator": the run accepts it from an admin whatever the gate's role or claim, records it
as an override in history, and the audit trail names the admin. It is never an unsigned Update.

    manage.py operator_action loan-...--g1 approve --as admin --reason "Approved by the credit committee"
    manage.py operator_action loan-...--g1 unclaim --as admin --reason "Officer on leave"
    manage.py operator_action loan-...--g1 assign --as admin --assignee senior
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.framework.contract import OPERATOR
from reviewer_portal.inbox.delivery import ActionConflict
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import outcome_text
from reviewer_portal.inbox.services import gate_annotate, gate_assign, gate_decide
from reviewer_portal.team.absences import absence_of

DECISIONS = {"approve": "approve", "reject": "reject", "request-changes": "request_changes"}
ACTIONS = [*DECISIONS, "annotate", "claim", "unclaim", "assign"]


class Command(BaseCommand):
    help = "Act on a gate as a named admin (signed, recorded as an operator override)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("gate_id")
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("--as", dest="admin", required=True, help="username of the admin acting")
        parser.add_argument(
            "--reason", default="", help="why (required for decisions; the note for annotate)"
        )
        parser.add_argument("--assignee", default="", help="username to assign the gate to (assign)")

    def handle(self, *args: object, gate_id: str, action: str, admin: str, reason: str, assignee: str,
               **options: object) -> None:  # fmt: skip
        user = get_user_model().objects.filter(username=admin, is_active=True, is_superuser=True).first()
        if user is None:
            raise CommandError(f"{admin!r} is not an active admin: operator actions are an admin's.")
        gate = Gate.objects.filter(gate_id=gate_id).first()
        if gate is None:
            raise CommandError(f"No gate {gate_id!r} in the portal (python manage.py reconcile rebuilds it).")
        if not reason.strip():
            raise CommandError("An operator action needs --reason: it is recorded with the override.")
        try:
            attempt = self._act(gate, user, action, reason, assignee)
        except (PermissionError, ActionConflict) as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"{attempt.action_id}: {outcome_text(attempt)}")
        if attempt.status != ActionAttempt.Status.ACCEPTED:
            raise CommandError(f"Not applied ({attempt.status}).")

    def _act(self, gate: Gate, user: object, action: str, reason: str, assignee: str) -> ActionAttempt:
        submission = str(uuid.uuid4())
        common = {"gate": gate, "reviewer": user, "submission_id": submission, "origin": OPERATOR}
        if action in DECISIONS:
            # On the recommendation the gate shows now, as a reviewer on its page would.
            revision = len(gate.revisions)
            return gate_decide(decision=DECISIONS[action], reason=reason, revision=revision, **common)
        if action == "annotate":
            return gate_annotate(text=reason, **common)
        target = None
        if action == "claim":
            target = user
        elif action == "assign":
            target = get_user_model().objects.filter(username=assignee, is_active=True).first()
            if target is None:
                raise CommandError(f"No active user {assignee!r} to assign the gate to.")
        if target is not None and (away := absence_of(target)):
            # As the team page offers only those present, and a queued assignment is held for it.
            raise CommandError(
                f"{target.get_username()} is marked absent (since {away.since:%Y-%m-%d %H:%M} UTC): assign the "
                "gate to someone present, or mark them present on the team page first."
            )
        return gate_assign(assignee=target, reason=reason, **common)
