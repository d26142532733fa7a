"""Who may read a run's audit trail: auditors and admins, every run, with its export and proof;
the reviewers of its gates (whoever may open one of them), that run's trail, read-only."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.inbox.selectors import gate_visible_to


def may_read_trail(*, user: AbstractBaseUser, workflow_id: str) -> bool:
    return can_audit(user) or gate_visible_to(user=user).filter(workflow_id=workflow_id).exists()


def readable_runs(*, user: AbstractBaseUser, workflow_ids: set[str]) -> set[str]:
    """The runs among `workflow_ids` whose trail the user may read (one query)."""
    if can_audit(user):
        return set(workflow_ids)
    return set(
        gate_visible_to(user=user).filter(workflow_id__in=workflow_ids).values_list("workflow_id", flat=True)
    )
