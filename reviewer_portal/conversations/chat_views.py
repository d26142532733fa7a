"""The customer's chat page: start a conversation, then talk in it. The browser session keeps the
conversation's token (customers are not portal users); forms carry Django's CSRF token."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.support.rep_actions import message_refusal
from reviewer_portal.conversations import services
from reviewer_portal.conversations.api import CUSTOMER_ID
from reviewer_portal.conversations.selectors import conversation_transcript
from reviewer_portal.conversations.tokens import is_conversation_id, token_matches
from reviewer_portal.htmx_request import HtmxHttpRequest

SESSION_KEY = "support_conversations"


@require_http_methods(["GET", "POST"])
def chat_start(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "conversations/chat_start.html")
    customer_id = request.POST.get("customer_id", "").strip().upper()
    if not CUSTOMER_ID.fullmatch(customer_id):
        context = {"error": "Enter your customer number, e.g. CUST-2001.", "customer_id": customer_id}
        return render(request, "conversations/chat_start.html", context, status=400)
    started = services.conversation_start(customer_id=customer_id)
    request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}), started.id: started.token}
    return redirect("conversations:chat", conversation_id=started.id)


@require_GET
def chat(request: HtmxHttpRequest, conversation_id: str) -> HttpResponse:
    if not _holds(request, conversation_id):
        return HttpResponseForbidden("This conversation is not yours.")
    transcript = conversation_transcript(conversation_id=conversation_id)
    context = {"conversation_id": conversation_id, "transcript": transcript}
    if request.htmx:
        return render(request, "conversations/_entries.html", context)
    return render(request, "conversations/chat.html", context)


@require_POST
def chat_message(request: HtmxHttpRequest, conversation_id: str) -> HttpResponse:
    if not _holds(request, conversation_id):
        return HttpResponseForbidden("This conversation is not yours.")
    text = request.POST.get("text", "")
    refusal = message_refusal(text)
    status = 400
    if refusal is None:
        sent = services.conversation_customer_message(conversation_id=conversation_id, text=text)
        refusal = sent.detail if sent.reply is None and sent.status != services.PENDING else None
        status = 409 if sent.status in (services.CLOSED, services.GONE) else 400
    if not request.htmx:
        return redirect("conversations:chat", conversation_id=conversation_id)
    context = {
        "conversation_id": conversation_id,
        "transcript": conversation_transcript(conversation_id=conversation_id),
        "error": refusal or "",
        "text": text if refusal else "",
    }
    return render(request, "conversations/_chat_form.html", context, status=status if refusal else 200)


def _holds(request: HttpRequest, conversation_id: str) -> bool:
    token = request.session.get(SESSION_KEY, {}).get(conversation_id, "")
    return is_conversation_id(conversation_id) and token_matches(conversation_id, token)
