"""The customers' JSON API. A conversation's token travels in a header (never a cookie), so these
views need no CSRF token: a cross-site request cannot carry it, and a body must be sent as
application/json, which no cross-site form can. Who the customer is comes from online banking's
signed assertion (reviewer_portal.conversations.customers), never from a number typed in.

    POST /api/support/conversations/                 {customer_assertion} -> 201 {id, token}
    POST /api/support/conversations/<id>/messages/   {text, id?} -> {status, reply, index}
    GET  /api/support/conversations/<id>/            -> the transcript
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents.support.contract import MAX_MESSAGE_LENGTH
from agents.support.rep_actions import message_refusal
from reviewer_portal.conversations import services, throttle
from reviewer_portal.conversations.customers import asserted_customer, chat_is_on
from reviewer_portal.conversations.selectors import conversation_transcript, transcript_json
from reviewer_portal.conversations.tokens import is_conversation_id, token_matches

TOKEN_HEADER = "X-Conversation-Token"
MAX_BODY_BYTES = 16 * 1024
# A client's own id for a message, so that sending it again is safe.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATUS = {
    services.ACCEPTED: 200,
    services.PENDING: 202,
    services.REFUSED: 400,
    services.CLOSED: 409,
    services.GONE: 409,
    services.UNAVAILABLE: 503,
}


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def conversation_create(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    if isinstance(body, JsonResponse):
        return body
    if not chat_is_on():
        return error(404, "Customer chat is not available.")
    assertion = body.get("customer_assertion")
    customer_id = asserted_customer(assertion) if isinstance(assertion, str) else None
    if customer_id is None:
        return error(
            403, "customer_assertion must be online banking's signed, current assertion of who you are."
        )
    wait = throttle.retry_after(
        f"chat:{customer_id}", limit=settings.SUPPORT_CHATS_PER_HOUR, window_seconds=3600
    )
    if wait:
        return _too_many(wait, "You have started several chats in the last hour.")
    try:
        started = services.conversation_start(customer_id=customer_id)
    except services.ConversationUnavailable as err:
        return error(503, str(err))
    return JsonResponse({"id": started.id, "token": started.token}, status=201)


@csrf_exempt
@require_POST
def message_create(request: HttpRequest, conversation_id: str) -> JsonResponse:
    denied = _denied(request, conversation_id)
    if denied:
        return denied
    body = _body(request)
    if isinstance(body, JsonResponse):
        return body
    text = body.get("text")
    if isinstance(text, str) and len(text) > MAX_MESSAGE_LENGTH:
        return error(413, f"The message is longer than {MAX_MESSAGE_LENGTH} characters.")
    refusal = message_refusal(text)
    if refusal:
        return error(400, refusal)
    message_id = body.get("id", "")
    if not isinstance(message_id, str) or (message_id and not MESSAGE_ID.fullmatch(message_id)):
        return error(400, "id, if given, must be 1 to 64 letters, digits, '-' or '_'.")
    assert isinstance(text, str)
    wait = message_wait(conversation_id)
    if wait:
        return _too_many(wait, "Too many messages at once.")
    sent = services.conversation_customer_message(
        conversation_id=conversation_id, text=text, message_id=message_id
    )
    if sent.reply is None:
        return JsonResponse({"status": sent.status, "error": sent.detail}, status=STATUS[sent.status])
    reply = sent.reply
    return JsonResponse({"status": reply.status, "reply": reply.reply, "index": reply.index})


@require_GET
def conversation_detail(request: HttpRequest, conversation_id: str) -> JsonResponse:
    denied = _denied(request, conversation_id)
    if denied:
        return denied
    transcript = conversation_transcript(conversation_id=conversation_id)
    if transcript is None:
        return error(404, "No such conversation.")
    return JsonResponse(transcript_json(conversation_id, transcript))


def message_wait(conversation_id: str) -> int | None:
    limit = settings.SUPPORT_MESSAGES_PER_MINUTE
    return throttle.retry_after(f"messages:{conversation_id}", limit=limit, window_seconds=60)


def _too_many(wait: int, what: str) -> JsonResponse:
    response = error(429, f"{what} Try again in {wait} s.")
    response["Retry-After"] = str(wait)
    return response


def _denied(request: HttpRequest, conversation_id: str) -> JsonResponse | None:
    if not is_conversation_id(conversation_id):
        return error(404, "No such conversation.")
    if not token_matches(conversation_id, request.headers.get(TOKEN_HEADER, "")):
        return error(403, f"The {TOKEN_HEADER} header does not open this conversation.")
    return None


def _body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if request.content_type != "application/json":
        return error(415, "Send the request body as application/json.")
    if len(request.body) > MAX_BODY_BYTES:
        return error(413, f"The request is larger than {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return error(400, "The request body is not JSON.")
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object.")
    return body
