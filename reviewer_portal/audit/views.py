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
from reviewer_portal.audit.timeline import RunAudit, run_audit
from reviewer_portal.inbox.models import Gate
from reviewer_portal.temporal_client import get_client


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
    audit = _load(workflow_id)
    gates = Gate.objects.filter(workflow_id=workflow_id)
    temporal_ui = (
        f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{quote(settings.TEMPORAL_NAMESPACE)}"
        f"/workflows/{quote(workflow_id)}"
    )
    return render(request, "audit/run.html", {"audit": audit, "gates": gates, "temporal_ui": temporal_ui})


@require_GET
@login_required
def audit_export(request: HttpRequest, workflow_id: str) -> JsonResponse:
    _require_auditor(request)
    response = JsonResponse(dataclasses.asdict(_load(workflow_id)), encoder=DjangoJSONEncoder)
    response["Content-Disposition"] = f'attachment; filename="audit-{workflow_id}.json"'
    return response


def _require_auditor(request: HttpRequest) -> None:
    if not can_audit(request.user):
        raise PermissionDenied("Audit trails are for auditors and admins.")


def _load(workflow_id: str) -> RunAudit:
    async def load() -> RunAudit:
        return await run_audit(client=await get_client(), workflow_id=workflow_id)

    try:
        return async_to_sync(load)()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Http404("No such agent run.") from err
        raise
