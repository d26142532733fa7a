from __future__ import annotations

from django.http import HttpRequest

from reviewer_portal.team.selectors import can_supervise


def team(request: HttpRequest) -> dict[str, object]:
    """Whether the nav offers the team view: from roles and agents' declarations, no query."""
    return {"can_supervise": can_supervise(user=request.user)}
