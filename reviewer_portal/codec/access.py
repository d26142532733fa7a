"""Who may use the codec endpoint for what: auditors and admins decode every run; a reviewer
decodes the payloads of a run of a gate they may see, when the request names the run and the
namespace it runs in (the view checks each payload against that run's history); only admins
encode."""

from __future__ import annotations

import re
from enum import Enum
from urllib.parse import urlparse

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.domains import domain_of
from reviewer_portal.inbox.selectors import gate_visible_to
from reviewer_portal.run_ids import RUN_ID_PATTERN

# The Web UI's pages: /namespaces/<namespace>/workflows/<workflow id>/...
UI_WORKFLOW_PAGE = re.compile(r"/namespaces/[^/]+/workflows/(?P<workflow_id>[^/]+)")


class DecodeScope(Enum):
    NOTHING = "nothing"
    NAMED_RUN = "named run"  # the payloads of the named run's history, no others
    EVERYTHING = "everything"


def decode_scope(user: AbstractBaseUser | AnonymousUser, workflow_id: str, namespace: str) -> DecodeScope:
    if not user.is_authenticated or not user.is_active:
        return DecodeScope.NOTHING
    if can_audit(user):
        return DecodeScope.EVERYTHING
    if not workflow_id:
        return DecodeScope.NOTHING
    agents = set(gate_visible_to(user=user).filter(workflow_id=workflow_id).values_list("agent", flat=True))
    # The run's own namespace only: naming one's run does not open another domain's payloads.
    if any(domain_of(agent).namespace == namespace for agent in agents):
        return DecodeScope.NAMED_RUN
    return DecodeScope.NOTHING


def may_encode(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Encoding makes ciphertext a run would read: an admin's tool, nobody else's."""
    return user.is_authenticated and user.is_active and user.is_superuser


def workflow_named_by(request: HttpRequest, path_workflow_id: str = "") -> str:
    """The run a request is about: from its path (`/codec/<ns>/workflows/<id>/decode`), the
    `X-Workflow-Id` header (the CLI's `--codec-header`), or the Web UI page it came from."""
    candidates = [path_workflow_id, request.headers.get("X-Workflow-Id", "")]
    referer = urlparse(request.headers.get("Referer", "")).path
    if match := UI_WORKFLOW_PAGE.search(referer):
        candidates.append(match["workflow_id"])
    return next((c for c in candidates if c and RUN_ID_PATTERN.fullmatch(c)), "")
