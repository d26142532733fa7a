"""Reviewer roles are Django groups; their names are also the roles gates require. Each agent
package declares the roles its gates name (`AgentSpec.roles`); the portal adds `admin`
(superusers) and `auditor`, and creates a group for each after `migrate`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db import connections, router

from agents.framework.registry import AGENTS

CREDIT_OFFICER = "credit_officer"
SENIOR_CREDIT_OFFICER = "senior_credit_officer"
COMPLIANCE_REVIEWER = "compliance_reviewer"
LICENSED_ADVISER = "licensed_adviser"
AUDITOR = "auditor"
ADMIN_ROLE = "admin"  # superusers, implicitly; agents.framework.types.ADMIN_ROLE


class _Roles(Mapping[str, str]):
    """Role name -> label, read from the registered agents each time (packages register on
    import, and a test may add one), so no list of roles is kept here."""

    def __init__(self, *, auditor: bool) -> None:
        self._auditor = auditor

    def _labels(self) -> dict[str, str]:
        labels = {ADMIN_ROLE: "Admin"}
        for spec in AGENTS.values():
            for role in spec.roles:
                labels.setdefault(role.name, role.label)
        return {**labels, AUDITOR: "Auditor"} if self._auditor else labels

    def __getitem__(self, name: str) -> str:
        return self._labels()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels())

    def __len__(self) -> int:
        return len(self._labels())


# Roles that decide gates, with the label reviewers see; and those plus the auditor.
REVIEWER_ROLES: Mapping[str, str] = _Roles(auditor=False)
ALL_ROLES: Mapping[str, str] = _Roles(auditor=True)


def group_names() -> list[str]:
    """The groups the portal needs: every declared role and the auditor (admin is is_superuser)."""
    return [name for name in ALL_ROLES if name != ADMIN_ROLE]


# Who may upload a document for regulatory review.
DOCUMENT_INTAKE_ROLES = {COMPLIANCE_REVIEWER}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The roles a user holds (cached on the user object for the request)."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_reviewer_roles", None)
    if cached is None:
        # `admin` comes from is_superuser only, never from a group of that name.
        cached = _group_names(user) & (set(ALL_ROLES) - {ADMIN_ROLE})
        user._reviewer_roles = cached
    return cached


def _group_names(user: AbstractBaseUser) -> set[str]:
    """The names of the user's groups, read with one plain statement: asked on every request (the
    inbox's poll too), where the ORM's building of the query cost ten times the query."""
    if user.pk is None:
        return set()
    groups = user._meta.get_field("groups")  # user may be a lazy object: its attributes, not its type
    connection = connections[router.db_for_read(Group, instance=user)]
    quote = connection.ops.quote_name
    group_table, members = quote(Group._meta.db_table), quote(groups.remote_field.through._meta.db_table)
    member, group = quote(groups.m2m_column_name()), quote(groups.m2m_reverse_name())
    group_id = quote(Group._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.name FROM {group_table} g INNER JOIN {members} m ON m.{group} = g.{group_id}"
            f" WHERE m.{member} = %s",
            [user.pk],
        )
        return {name for (name,) in cursor.fetchall()}


def reviewer_roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The gate roles a user acts in; superusers act as `admin` (held gates, reassignment)."""
    roles = roles_of(user) & set(REVIEWER_ROLES)
    return roles | {ADMIN_ROLE} if user.is_authenticated and user.is_superuser else roles


def can_audit(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or AUDITOR in roles_of(user))


def can_submit_to(user: AbstractBaseUser | AnonymousUser, agent: str) -> bool:
    """Whether the user may use `agent`'s intake: the roles it declares, and admins."""
    spec = AGENTS.get(agent)
    if spec is None or spec.intake is None or not user.is_authenticated:
        return False
    return user.is_superuser or bool(roles_of(user) & set(spec.intake.roles))


def can_submit_documents(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or bool(roles_of(user) & DOCUMENT_INTAKE_ROLES))
