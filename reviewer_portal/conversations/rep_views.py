"""A support rep's view of a conversation handed to them: the transcript, live (htmx polls it),
and a reply box whose replies go to the conversation as Updates the portal signs; for an admin or
a supervisor, a release of a conversation its holder left, the same way."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from agents.support.contract import REP_CLOSE, REP_RELEASE, REP_REPLY
from agents.support.rep_actions import message_refusal
from reviewer_portal.conversations import services
from reviewer_portal.conversations.selectors import RepAccess, conversation_transcript, rep_access_for
from reviewer_portal.conversations.tokens import is_conversation_id
from reviewer_portal.htmx_request import HtmxHttpRequest

# A release's reason, as the run's history keeps it with who released the conversation.
RELEASED_ON_PAGE = "Released on the conversation page, for another representative to take over."


@login_required
@require_GET
def conversation(request: HtmxHttpRequest, conversation_id: str) -> HttpResponse:
    access = _access(request, conversation_id)
    transcript = conversation_transcript(conversation_id=conversation_id)
    if transcript is None:
        raise Http404("No such conversation.")
    context = {
        "conversation_id": conversation_id,
        "transcript": transcript,
        "access": access,
        "submission_id": uuid.uuid4(),  # the reply form's: sent twice, it is one reply
        "release_submission_id": uuid.uuid4(),  # its own: a release is no reply
    }
    if request.htmx:
        return render(request, "conversations/_entries.html", context)
    return render(request, "conversations/conversation.html", context)


OUT_OF_DATE = "This form is out of date, so nothing was sent: reload the page and send it again."
# Nothing is recorded of a rep's reply but in the conversation's history: until it is there, the
# rep keeps the form, and the same form is one reply however often it is sent.
PENDING_NOTICE = (
    "Not confirmed yet: the conversation has not answered in time. It shows your reply once it "
    "takes it; if it does not, send it again: it never reaches the customer twice. To write "
    "something else, reload the page."
)


@login_required
@require_POST
def reply(request: HtmxHttpRequest, conversation_id: str) -> HttpResponse:
    access = _access(request, conversation_id)
    action = REP_CLOSE if "close" in request.POST else REP_REPLY
    text = request.POST.get("text", "")
    submission_id = _submission_id(request)
    refusal = access.refusal or message_refusal(text)
    notice = ""
    if refusal is None:
        sent = _act(request, conversation_id, action, text, submission_id)
        if sent.status == services.PENDING:  # the transcript shows it once the run takes it
            notice = PENDING_NOTICE
        elif sent.status != services.ACCEPTED:
            refusal = sent.detail
    context = {
        "conversation_id": conversation_id,
        "transcript": conversation_transcript(conversation_id=conversation_id),
        "error": refusal or "",
        "notice": notice,
        # A form not taken (refused, or not confirmed yet) keeps its text and its id, so sending it
        # again is the same reply; one the conversation took starts afresh.
        "text": text if refusal or notice else "",
        "submission_id": submission_id if (refusal or notice) and submission_id else uuid.uuid4(),
        "pending_action": "close" if action == REP_CLOSE else "reply",
        "access": access,
    }
    status = 400 if refusal else 202 if notice else 200
    return render(request, "conversations/_rep_form.html", context, status=status)


@login_required
@require_POST
def release(request: HtmxHttpRequest, conversation_id: str) -> HttpResponse:
    """An admin or a supervisor frees a conversation from a holder who cannot answer it."""
    access = _access(request, conversation_id)
    if not access.releases:
        raise PermissionDenied(
            "Only an admin or a supervisor of the representatives releases a conversation."
        )
    submission_id = _submission_id(request)
    refusal = "" if access.may_release else "Nobody holds this conversation now: there is nothing to release."
    notice = ""
    if not refusal:
        sent = _act(request, conversation_id, REP_RELEASE, RELEASED_ON_PAGE, submission_id)
        if sent.status == services.ACCEPTED:
            notice = "Released: any representative may take it over by replying."
        elif sent.status == services.PENDING:
            notice = "Not confirmed yet: the conversation shows the release once it takes it."
        else:
            refusal = sent.detail
    context = {
        "conversation_id": conversation_id,
        "access": _access(request, conversation_id),  # as the release left it
        "release_error": refusal,
        "release_notice": notice,
        "release_submission_id": submission_id if refusal and submission_id else uuid.uuid4(),
    }
    return render(request, "conversations/_release_form.html", context, status=409 if refusal else 200)


def _act(
    request: HtmxHttpRequest, conversation_id: str, action: str, text: str, submission_id: uuid.UUID | None
) -> services.Sent:
    """The rep action sent under its form's id; refused, sending nothing, without a valid one."""
    if submission_id is None:
        return services.Sent(services.REFUSED, OUT_OF_DATE)
    return services.conversation_rep_act(
        conversation_id=conversation_id,
        rep=request.user,
        action=action,
        text=text,
        submission_id=submission_id,
    )


def _submission_id(request: HtmxHttpRequest) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.POST.get("submission_id", ""))
    except ValueError:
        return None


def _access(request: HtmxHttpRequest, conversation_id: str) -> RepAccess:
    """Only a conversation handed to the user's role opens (a rep has no business reading any
    other customer's chat); 404 for an id that is no conversation."""
    if not is_conversation_id(conversation_id):
        raise Http404("No such conversation.")
    access = rep_access_for(user=request.user, conversation_id=conversation_id)
    if access is None:
        raise PermissionDenied("Only the representatives a conversation was handed to open it.")
    return access
