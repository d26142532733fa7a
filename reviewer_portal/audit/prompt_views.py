"""Prompt governance pages for auditors and admins: versions, texts, diffs and their use."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviewer_portal.accounts.roles import can_audit
from reviewer_portal.audit.prompt_selectors import prompt_catalogue, prompt_version_detail


@require_GET
@login_required
def prompt_list(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    return render(request, "audit/prompts.html", {"families": prompt_catalogue()})


@require_GET
@login_required
def prompt_detail(request: HttpRequest, prompt_id: str, version: int) -> HttpResponse:
    _require_auditor(request)
    detail = prompt_version_detail(prompt_id=prompt_id, version=version)
    return render(request, "audit/prompt.html", {"detail": detail})


def _require_auditor(request: HttpRequest) -> None:
    if not can_audit(request.user):
        raise PermissionDenied("Prompt governance is for auditors and admins.")
