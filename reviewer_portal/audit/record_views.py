"""The AI Act record of each decision (a readable page and its JSON) and the model-risk page,
for auditors and admins."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.audit.ai_act import NotDecided, decision_record, plain_words
from reviewer_portal.audit.decision_check import decision_check
from reviewer_portal.audit.model_risk import model_risk
from reviewer_portal.inbox.models import Gate


@require_GET
@login_required
def decision_record_page(request: HttpRequest, gate_id: str) -> HttpResponse:
    record, not_decided = _record(request, gate_id)
    if not_decided is not None:
        return render(request, "audit/ai_act_record.html", {"not_decided": not_decided.gate}, status=404)
    context = {"record": record, "words": plain_words(record)}
    return render(request, "audit/ai_act_record.html", context)


@require_GET
@login_required
def decision_record_json(request: HttpRequest, gate_id: str) -> HttpResponse:
    record, not_decided = _record(request, gate_id)
    if not_decided is not None:
        return JsonResponse({"error": str(not_decided)}, status=404)
    response = JsonResponse(record, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="ai-act-record-{gate_id}.json"'
    return response


@require_GET
@login_required
def model_risk_page(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    return render(request, "audit/model_risk.html", {"risk": model_risk()})


def _record(request: HttpRequest, gate_id: str) -> tuple[dict, NotDecided | None]:
    """The decided gate's record for an auditor (403 for anyone else, 404 for an unknown gate)."""
    _require_auditor(request)
    gate = get_object_or_404(Gate, pk=gate_id)
    try:
        # Checked whatever the row says: one edited to "pending" must not hide a signed decision.
        return decision_record(gate, decision_check(gate)), None
    except NotDecided as err:
        return {}, err


def _require_auditor(request: HttpRequest) -> None:
    if not can_audit(request.user):
        raise PermissionDenied("AI Act records and model-risk views are for auditors and admins.")
