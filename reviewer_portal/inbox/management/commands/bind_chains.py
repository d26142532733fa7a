"""`python manage.py bind_chains`: once after the upgrade that records run chains (and after
restoring a backup from before it), bind the gate rows and submissions written before it
(reviewer_portal.inbox.chain_binding)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from reviewer_portal.inbox.chain_binding import bind_unbound_chains


class Command(BaseCommand):
    help = "Bind the gate rows and submissions recorded before run chains to the chain of their first run."

    def handle(self, *args: object, **options: object) -> None:
        bound = bind_unbound_chains()
        for workflow_id in bound.not_found:
            self.stderr.write(
                f"No first run of {workflow_id} found in Temporal or the archive: left unbound."
            )
        for failure in bound.failed:
            self.stderr.write(f"Not bound, Temporal did not answer: {failure}; run the command again.")
        for workflow_id in bound.ambiguous:
            self.stderr.write(
                f"No run under {workflow_id} started before its row, and none archived: left unbound; "
                "bind it by hand to the chain the portal started (its first run)."
            )
        self.stdout.write(
            f"Bound {bound.gates} gate rows and {bound.submissions} submissions to their run chains."
        )
