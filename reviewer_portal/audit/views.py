from __future__ import annotations

import dataclasses
from urllib.parse import quote

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.audit.portal_record import unapplied_actions
from reviewer_portal.audit.timeline import RunAudit, run_audit
from reviewer_portal.inbox.models import Gate
from reviewer_portal.run_location import client_for_run, known_namespace
from reviewer_portal.safe_text import storable
from reviewer_portal.temporal_client import TemporalUnreachable


@require_GET
@login_required
def audit_index(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    runs = Gate.objects.order_by("-opened_at")[:200]
    return render(request, "audit/index.html", {"runs": runs})


@require_GET
@login_required
def audit_run(request: HttpRequest, workflow_id: str) -> HttpResponse:
    _require_auditor(request)
    gates = Gate.objects.filter(workflow_id=workflow_id)
    temporal_ui = (
        f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{quote(known_namespace(workflow_id))}"
        f"/workflows/{quote(workflow_id)}"
    )
    try:
        audit = _load(workflow_id)
    except HistoryUnavailable as err:
        context = {
            "workflow_id": workflow_id,
            "gates": gates,
            "unavailable": str(err),
            "temporal_ui": temporal_ui,
        }
        return render(request, "audit/run.html", context, status=503)
    context = {"workflow_id": workflow_id, "audit": audit, "gates": gates, "temporal_ui": temporal_ui}
    return render(request, "audit/run.html", context)


@require_GET
@login_required
def audit_export(request: HttpRequest, workflow_id: str) -> HttpResponse:
    _require_auditor(request)
    try:
        audit = _load(workflow_id)
    except HistoryUnavailable as err:
        return HttpResponse(str(err), status=503, content_type="text/plain; charset=utf-8")
    response = JsonResponse(dataclasses.asdict(audit), encoder=DjangoJSONEncoder)
    response["Content-Disposition"] = f'attachment; filename="audit-{workflow_id}.json"'
    return response


def _require_auditor(request: HttpRequest) -> None:
    if not can_audit(request.user):
        raise PermissionDenied("Audit trails are for auditors and admins.")


class HistoryUnavailable(Exception):
    """Temporal cannot be read right now; the message says so in plain words."""


def _load(workflow_id: str) -> RunAudit:
    """The run's timeline from Temporal, with the actions only the portal recorded beside it."""

    async def load() -> RunAudit:
        return await run_audit(client=await client_for_run(workflow_id), workflow_id=workflow_id)

    try:
        audit = async_to_sync(load)()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Http404("No such agent run.") from err
        raise HistoryUnavailable(f"Temporal did not answer ({err.status.name}); try again shortly.") from err
    except TemporalUnreachable as err:
        raise HistoryUnavailable("Temporal is not reachable right now; try again shortly.") from err
    entries = sorted([*audit.entries, *unapplied_actions(workflow_id=workflow_id)], key=lambda e: e.time)
    readable = [dataclasses.replace(e, title=storable(e.title), data=storable(e.data)) for e in entries]
    return dataclasses.replace(audit, entries=readable)
