"""Reviewer roles are Django groups; these names are also the roles gates require."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

CREDIT_OFFICER = "credit_officer"
SENIOR_CREDIT_OFFICER = "senior_credit_officer"
COMPLIANCE_REVIEWER = "compliance_reviewer"
LICENSED_ADVISER = "licensed_adviser"
AUDITOR = "auditor"

# Roles that decide gates, with the label reviewers see.
REVIEWER_ROLES = {
    CREDIT_OFFICER: "Credit officer",
    SENIOR_CREDIT_OFFICER: "Senior credit officer",
    COMPLIANCE_REVIEWER: "Compliance reviewer",
    LICENSED_ADVISER: "Licensed adviser",
}
ALL_ROLES = {**REVIEWER_ROLES, AUDITOR: "Auditor"}

# Who may submit a loan application for pre-screening.
INTAKE_ROLES = {CREDIT_OFFICER, SENIOR_CREDIT_OFFICER}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The roles a user holds (cached on the user object for the request)."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_reviewer_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(ALL_ROLES)
        user._reviewer_roles = cached
    return cached


def reviewer_roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    return roles_of(user) & set(REVIEWER_ROLES)


def can_audit(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or AUDITOR in roles_of(user))


def can_submit_applications(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or bool(roles_of(user) & INTAKE_ROLES))
