from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from reviewer_portal.accounts.roles import (
    ALL_ROLES,
    can_audit,
    can_open_advice_cases,
    can_submit_applications,
    can_submit_documents,
    roles_of,
)


def reviewer(request: HttpRequest) -> dict[str, object]:
    user = request.user
    return {
        "role_labels": [ALL_ROLES[r] for r in sorted(roles_of(user))],
        "can_audit": can_audit(user),
        "can_submit": can_submit_applications(user),
        "can_submit_documents": can_submit_documents(user),
        "can_open_advice": can_open_advice_cases(user),
        "currency": settings.CURRENCY,
    }
