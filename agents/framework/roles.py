"""The reviewer roles an agent's team declares: the portal makes a group of each, shows its
label, and lets its reviewers see and decide the gates that name it."""

from __future__ import annotations

from dataclasses import dataclass

# Role names are group names and appear in URLs and signed actions: lowercase words and underscores.
ROLE_NAME_PATTERN = r"[a-z][a-z0-9_]{1,48}"


@dataclass(frozen=True)
class ReviewerRole:
    name: str
    label: str  # as reviewers read it, e.g. "Credit officer"
    # Roles that may reassign this role's gates when someone is absent (and take its escalations).
    supervisors: tuple[str, ...] = ()
    # The user `make dev` (seed_demo) creates with this role, if any.
    demo_user: str = ""
