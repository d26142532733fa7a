"""Uploading a document for regulatory review: the form, its view, and the service that starts
the review. The text goes to the claim-check store; the run gets the document's id only."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_http_methods

from agents.regulatory import review_input
from agents.regulatory.documents import DocumentStore, split_sections
from agents.regulatory.extract import ALLOWED_EXTENSIONS, DocumentRejected, extract_text
from reviewer_portal.accounts.roles import can_submit_documents
from reviewer_portal.intake.services import RunNotStarted, agent_run_start

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# A longer document is better reviewed as several uploads than as one run of many hundred turns.
MAX_SECTIONS = 150


class DocumentUploadForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")
    document = forms.FileField(
        help_text=f"Plain text (.txt, .md) or PDF, at most {filesizeformat(MAX_UPLOAD_BYTES)}.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(sorted(ALLOWED_EXTENSIONS))}),
    )
    # Becomes the workflow id: submitting the same form twice starts one run.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean_document(self):
        upload = self.cleaned_data["document"]
        if PurePath(upload.name).suffix.lower() not in ALLOWED_EXTENSIONS:
            raise forms.ValidationError("Upload a plain-text (.txt, .md) or PDF (.pdf) file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {filesizeformat(MAX_UPLOAD_BYTES)}.")
        return upload


@require_http_methods(["GET", "POST"])
@login_required
def document_new(request: HttpRequest) -> HttpResponse:
    if not can_submit_documents(request.user):
        raise PermissionDenied("Only compliance reviewers upload documents for review.")
    form = DocumentUploadForm(
        request.POST or None, request.FILES or None, initial={"submission_id": uuid.uuid4()}
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["document"]
        try:
            regulatory_document_submit(
                submitted_by=request.user,
                title=form.cleaned_data["title"],
                upload_bytes=upload.read(),
                filename=upload.name,
                submission_id=str(form.cleaned_data["submission_id"]),
            )
        except DocumentRejected as err:
            form.add_error("document", str(err))
        except RunNotStarted as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, "Document uploaded; the agent is reviewing it section by section.")
            return redirect("inbox:list")
    return render(request, "intake/document.html", {"form": form}, status=400 if form.errors else 200)


def regulatory_document_submit(
    *, submitted_by: AbstractBaseUser, title: str, upload_bytes: bytes, filename: str, submission_id: str
) -> str:
    """Store the document's text and start its review; returns the workflow id (the same on a
    resubmit). Raises DocumentRejected, with a reason for the uploader, if it cannot be reviewed."""
    text = extract_text(upload_bytes, filename)
    if len(split_sections(text)) > MAX_SECTIONS:
        raise DocumentRejected(f"The document has more than {MAX_SECTIONS} sections; upload it in parts.")
    document = DocumentStore.from_env().put(text)
    agent_input = review_input(
        document=document,
        title=title.strip() or PurePath(filename).stem,
        uploaded_by=submitted_by.get_username(),
    )
    workflow_id = f"regulatory-{submission_id}"
    agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    return workflow_id
