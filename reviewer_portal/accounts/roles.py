"""Reviewer roles are Django groups; these names are also the roles gates require."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

CREDIT_OFFICER = "credit_officer"
SENIOR_CREDIT_OFFICER = "senior_credit_officer"
COMPLIANCE_REVIEWER = "compliance_reviewer"
LICENSED_ADVISER = "licensed_adviser"
AUDITOR = "auditor"
ADMIN_ROLE = "admin"  # superusers, implicitly; agents.framework.types.ADMIN_ROLE

# Roles that decide gates, with the label reviewers see.
REVIEWER_ROLES = {
    ADMIN_ROLE: "Admin",
    CREDIT_OFFICER: "Credit officer",
    SENIOR_CREDIT_OFFICER: "Senior credit officer",
    COMPLIANCE_REVIEWER: "Compliance reviewer",
    LICENSED_ADVISER: "Licensed adviser",
}
ALL_ROLES = {**REVIEWER_ROLES, AUDITOR: "Auditor"}

# Who may submit a loan application for pre-screening.
INTAKE_ROLES = {CREDIT_OFFICER, SENIOR_CREDIT_OFFICER}
# Who may upload a document for regulatory review.
DOCUMENT_INTAKE_ROLES = {COMPLIANCE_REVIEWER}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The roles a user holds (cached on the user object for the request)."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_reviewer_roles", None)
    if cached is None:
        # `admin` comes from is_superuser only, never from a group of that name.
        cached = set(user.groups.values_list("name", flat=True)) & (set(ALL_ROLES) - {ADMIN_ROLE})
        user._reviewer_roles = cached
    return cached


def reviewer_roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The gate roles a user acts in; superusers act as `admin` (held gates, reassignment)."""
    roles = roles_of(user) & set(REVIEWER_ROLES)
    return roles | {ADMIN_ROLE} if user.is_authenticated and user.is_superuser else roles


def can_audit(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or AUDITOR in roles_of(user))


def can_submit_applications(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or bool(roles_of(user) & INTAKE_ROLES))


def can_submit_documents(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or bool(roles_of(user) & DOCUMENT_INTAKE_ROLES))


def can_open_advice_cases(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Licensed advisers open advice cases (another adviser signs each off) and admins."""
    return user.is_authenticated and (user.is_superuser or LICENSED_ADVISER in roles_of(user))
