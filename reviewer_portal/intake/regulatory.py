"""Uploading a document for regulatory review: the form, its view, and the service that starts
the review. The file goes to the document store, sealed; the run gets its id only, and reads it
itself (never this request: a small PDF can cost minutes of CPU)."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from pathlib import PurePath

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_http_methods

from agents.framework.input_rules import text_refusal
from agents.framework.types import AgentInput
from agents.regulatory import REGULATORY_AGENT, upload_input
from agents.regulatory.documents import DocumentStore
from agents.regulatory.extract import ALLOWED_EXTENSIONS, DocumentRejected, check_upload
from reviewer_portal.accounts.roles import can_audit, can_submit_documents
from reviewer_portal.domains import domain_of
from reviewer_portal.history.models import Submission
from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.intake.content_digests import content_digest_of
from reviewer_portal.intake.document_reviews import document_review
from reviewer_portal.intake.models import WORKFLOW_PREFIX, DocumentUpload
from reviewer_portal.intake.outcomes import RunChanged, RunNotStarted, RunOfAnother, RunQueued
from reviewer_portal.intake.services import agent_run_start, run_input_unchanged

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_TITLE_LENGTH = 200
UPLOAD_CHANGED = (
    "This form was already used to upload another file, or the same under another title, and that"
    " upload stands as it was sent; nothing was uploaded now. Choose the file again to upload it as"
    " a new document."
)


class DocumentUploadForm(forms.Form):
    title = forms.CharField(
        max_length=MAX_TITLE_LENGTH, required=False, help_text="Defaults to the file name."
    )
    document = forms.FileField(
        max_length=200,
        help_text=f"Plain text (.txt, .md) or PDF, at most {filesizeformat(MAX_UPLOAD_BYTES)}.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(sorted(ALLOWED_EXTENSIONS))}),
    )
    # Becomes the workflow id: submitting the same form twice starts one run.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean_title(self) -> str:
        # The title is the subject of colleagues' inbox rows: nothing in it may read otherwise
        # than it says, as with the declared intake forms. (The file name it defaults to is
        # safe already: Django drops an upload's non-printable characters.)
        title = self.cleaned_data["title"]
        if refusal := text_refusal("title", title, max_length=MAX_TITLE_LENGTH, multiline=False):
            raise forms.ValidationError(refusal)
        if title and not any(unicodedata.category(char)[0] in "LNPS" for char in title):
            raise forms.ValidationError(
                "The title has nothing visible in it: write one, or leave it empty for the file name."
            )
        return title

    def clean_document(self):
        upload = self.cleaned_data["document"]
        if PurePath(upload.name).suffix.lower() not in ALLOWED_EXTENSIONS:
            raise forms.ValidationError("Upload a plain-text (.txt, .md) or PDF (.pdf) file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {filesizeformat(MAX_UPLOAD_BYTES)}.")
        return upload


@require_http_methods(["GET", "POST"])
@login_required
def document_new(request: HtmxHttpRequest) -> HttpResponse:
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
        except RunQueued as err:
            messages.warning(request, str(err))  # kept: it starts without being sent again
            return redirect("intake:document_status", submission_id=form.cleaned_data["submission_id"])
        except (RunOfAnother, RunChanged) as err:
            # The form comes back under a new id of the user's own (the file is chosen again).
            own = request.POST.copy()
            own["submission_id"] = str(uuid.uuid4())
            form = DocumentUploadForm(own)
            form.is_valid()
            form.add_error(None, UPLOAD_CHANGED if isinstance(err, RunChanged) else str(err))
            recent = DocumentUpload.objects.filter(uploaded_by=request.user)[:10]
            return render(request, "intake/document.html", {"form": form, "recent": recent}, status=409)
        except RunNotStarted as err:
            form.add_error(None, str(err))
        else:
            messages.success(
                request, "Document uploaded; the agent is reading it, then reviews it section by section."
            )
            return redirect("intake:document_status", submission_id=form.cleaned_data["submission_id"])
    recent = DocumentUpload.objects.filter(uploaded_by=request.user)[:10]
    context = {"form": form, "recent": recent}
    return render(request, "intake/document.html", context, status=400 if form.errors else 200)


@require_GET
@login_required
def document_status(request: HtmxHttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    """Where the review of an upload stands; the page refreshes itself until it is final."""
    upload = get_object_or_404(DocumentUpload, workflow_id=f"{WORKFLOW_PREFIX}{submission_id}")
    if upload.uploaded_by_id != request.user.pk and not (
        can_submit_documents(request.user) or can_audit(request.user)
    ):
        raise PermissionDenied("Only the uploader, compliance reviewers and auditors follow a review.")
    review = document_review(upload=upload)
    template = "intake/_document_state.html" if request.htmx else "intake/document_status.html"
    return render(request, template, {"review": review})


def regulatory_document_submit(
    *, submitted_by: AbstractBaseUser, title: str, upload_bytes: bytes, filename: str, submission_id: str
) -> str:
    """Store the uploaded file and start its review; returns the workflow id (the same on a
    resubmit). Raises DocumentRejected, with a reason for the uploader, for a file plainly not
    reviewable; the run reads the rest, and says so if it cannot. The same form sent again with
    another file or title raises RunChanged, the file not stored."""
    check_upload(upload_bytes, filename)
    agent_input = upload_input(
        upload_id=hashlib.sha256(upload_bytes).hexdigest(),  # the store's id for it: content-addressed
        filename=PurePath(filename).name,
        title=title.strip() or PurePath(filename).stem,
        uploaded_by=submitted_by.get_username(),
    )
    workflow_id = f"{WORKFLOW_PREFIX}{submission_id}"
    run_input_unchanged(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    store = DocumentStore.from_env(domain_of(REGULATORY_AGENT.name).namespace)
    if store.put_upload(upload_bytes) != agent_input.case["upload_id"]:
        raise RuntimeError("The document store no longer names an upload by its sha256.")
    upload = {
        "title": agent_input.case["title"],
        "filename": agent_input.case["filename"],
        "uploaded_by": submitted_by,
    }
    kept = None
    try:
        agent_run_start(workflow_id=workflow_id, agent_input=agent_input, submitted_by=submitted_by)
    except RunQueued as queued:
        kept = queued  # started later: the uploader follows it like any other upload meanwhile
    record, created = DocumentUpload.objects.get_or_create(workflow_id=workflow_id, defaults=upload)
    if not created and _names_an_earlier_file(record, agent_input):
        # A given-up upload sent again with another file: the record names what is reviewed now.
        DocumentUpload.objects.filter(pk=record.pk).update(title=upload["title"], filename=upload["filename"])
    if kept is not None:
        raise kept
    return workflow_id


def _names_an_earlier_file(record: DocumentUpload, agent_input: AgentInput) -> bool:
    """Whether the upload's record names another file than its submission now holds (this one)."""
    if (record.title, record.filename) == (agent_input.case["title"], agent_input.case["filename"]):
        return False
    holds_this = Submission.objects.filter(
        workflow_id=record.workflow_id, content_digest=content_digest_of(agent_input)
    )
    return holds_this.exists()  # not on a submission recorded before digests were kept, as before
