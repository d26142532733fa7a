from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import ALL_ROLES, can_audit, can_submit_documents, can_submit_to, roles_of


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str


def reviewer(request: HttpRequest) -> dict[str, object]:
    user = request.user
    return {
        "role_labels": [ALL_ROLES[r] for r in sorted(roles_of(user))],
        "can_audit": can_audit(user),
        "intake_links": intake_links(request),
        "currency": settings.CURRENCY,
    }


def intake_links(request: HttpRequest) -> list[NavLink]:
    """The intake pages the user may use: each agent's declared intake, then document review."""
    links = [
        NavLink(spec.intake.label, _intake_url(name))
        for name, spec in sorted(AGENTS.items())
        if spec.intake and can_submit_to(request.user, name)
    ]
    if "regulatory" in AGENTS and can_submit_documents(request.user):
        links.append(NavLink("Review a document", reverse("intake:document_new")))
    return links


def _intake_url(agent: str) -> str:
    try:
        return reverse(f"intake:start_{agent}")
    except NoReverseMatch:  # registered after the URLconf was loaded (a test's agent)
        return reverse("intake:start", args=[agent])
