"""The customer's chat page: start a conversation (as the customer online banking vouches for),
then talk in it. The browser session keeps the conversation's token (customers are not portal
users); forms carry Django's CSRF token."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.support.rep_actions import message_refusal
from reviewer_portal.conversations import services, throttle
from reviewer_portal.conversations.api import message_wait
from reviewer_portal.conversations.customers import (
    CUSTOMER_ID,
    asserted_customer,
    chat_is_on,
    customer_assertion,
)
from reviewer_portal.conversations.selectors import conversation_transcript
from reviewer_portal.conversations.tokens import is_conversation_id, token_matches
from reviewer_portal.htmx_request import HtmxHttpRequest

SESSION_KEY = "support_conversations"


@require_http_methods(["GET", "POST"])
def chat_start(request: HttpRequest) -> HttpResponse:
    """Online banking sends a signed-in customer here with `?assertion=`; the page starts their
    chat. In development a demo sign-in stands in for online banking."""
    if not chat_is_on():
        raise Http404("Customer chat is not available.")
    assertion = request.POST.get("assertion") or request.GET.get("assertion") or ""
    if request.method == "POST" and not assertion and settings.DEBUG:
        assertion = _demo_assertion(request.POST.get("customer_id", ""))
    customer_id = asserted_customer(assertion) if assertion else None
    context = {"assertion": assertion if customer_id else "", "demo": settings.DEBUG}
    if request.method == "GET" or customer_id is None:
        if assertion and customer_id is None:
            context["error"] = "Your sign-in has expired or is not valid: sign in to online banking again."
        return render(
            request, "conversations/chat_start.html", context, status=403 if "error" in context else 200
        )
    limit = settings.SUPPORT_CHATS_PER_HOUR
    if throttle.retry_after(f"chat:{customer_id}", limit=limit, window_seconds=3600):
        error = "You have started several chats in the last hour: please try again later."
        return render(request, "conversations/chat_start.html", {**context, "error": error}, status=429)
    try:
        started = services.conversation_start(customer_id=customer_id)
    except services.ConversationUnavailable as err:
        return render(request, "conversations/chat_start.html", {**context, "error": str(err)}, status=503)
    request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}), started.id: started.token}
    return redirect("conversations:chat", conversation_id=started.id)


def _demo_assertion(customer_id: str) -> str:
    """Development only: the assertion online banking would send for `customer_id`."""
    customer_id = customer_id.strip().upper()
    return customer_assertion(customer_id) if CUSTOMER_ID.fullmatch(customer_id) else "invalid"


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
    if refusal is None and (wait := message_wait(conversation_id)):
        refusal, status = f"Too many messages at once: try again in {wait} s.", 429
    elif refusal is None:
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
