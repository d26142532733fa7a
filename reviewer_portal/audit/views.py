from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.archive.chain import RecordAltered
from reviewer_portal.archive.export import export_document, latest_record
from reviewer_portal.audit.run_index import RunFilters, chain_heads, run_page
from reviewer_portal.audit.trail import HistoryUnavailable, Purged, as_json, find_trail
from reviewer_portal.audit.trail_access import may_read_trail
from reviewer_portal.history.services import workflow_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.selectors import gate_visible_to
from reviewer_portal.run_location import known_namespace


@require_GET
@login_required
def audit_index(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    filters = RunFilters(request.GET or None)
    context = {"filters": filters, "page": run_page(filters, request.GET.get("page")), "heads": chain_heads()}
    return render(request, "audit/index.html", context)


@require_GET
@login_required
def audit_run(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """The run's trail: in full for auditors; read-only (no export, no proof, no Temporal Web UI)
    for the reviewers of its gates, so they can see how the case they decide came about."""
    auditor = can_audit(request.user)
    if not auditor and not may_read_trail(user=request.user, workflow_id=workflow_id):
        raise PermissionDenied("This run's trail is for its reviewers, auditors and admins.")
    context = {
        "workflow_id": workflow_id,
        "auditor": auditor,
        "gates": (Gate.objects.all() if auditor else gate_visible_to(user=request.user)).filter(
            workflow_id=workflow_id
        ),
        "temporal_ui": (
            f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{quote(known_namespace(workflow_id))}"
            f"/workflows/{quote(workflow_id)}"
        ),
    }
    try:
        found = find_trail(workflow_id)
    except (HistoryUnavailable, Purged) as err:
        status = 410 if isinstance(err, Purged) else 503
        return render(request, "audit/run.html", {**context, "unavailable": str(err)}, status=status)
    trail = {"audit": found.audit, "record": found.record, "audit_from_archive": found.from_archive}
    return render(request, "audit/run.html", {**context, **trail})


@require_GET
@login_required
def audit_export(request: HttpRequest, workflow_id: str) -> HttpResponse:
    _require_auditor(request)
    record = latest_record(workflow_id, workflow_chain(workflow_id)[0])
    try:
        if record is not None and record.sealed:
            # Archived: the export is the archived trail and its proof; Temporal is not read.
            document = export_document({}, record)
        else:
            found = find_trail(workflow_id)
            document = export_document(as_json(found.audit), found.record)
    except (HistoryUnavailable, Purged, RecordAltered) as err:
        status = 410 if isinstance(err, Purged) else 503
        return HttpResponse(str(err), status=status, content_type="text/plain; charset=utf-8")
    response = JsonResponse(document, encoder=DjangoJSONEncoder)
    response["Content-Disposition"] = f'attachment; filename="audit-{workflow_id}.json"'
    return response


def _require_auditor(request: HttpRequest) -> None:
    if not can_audit(request.user):
        raise PermissionDenied("Audit trails are for auditors and admins.")
