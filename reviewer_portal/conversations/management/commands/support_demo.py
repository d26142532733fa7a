"""A demo support conversation, handed off to the support reps. `make dev` runs it once its worker
is up (the customer's messages are Updates, which need the worker). Idempotent: the conversation
and its messages have stable ids, so a second run starts nothing and sends nothing new. Prints how
to go on as the customer."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reviewer_portal.conversations import services

MESSAGES = ("When was my last payment?", "My card is blocked and I need to talk to a person.")


class Command(BaseCommand):
    help = "Start a demo support conversation for CUST-2002 that the agent hands to a support rep."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("support_demo runs only with DEBUG.")
        demo_id = f"support-{uuid.uuid5(uuid.NAMESPACE_URL, 'demo-support:CUST-2002').hex}"
        started = services.conversation_start(customer_id="CUST-2002", conversation_id=demo_id)
        for index, text in enumerate(MESSAGES):
            sent = services.conversation_customer_message(
                conversation_id=started.id, text=text, message_id=f"demo-{index}"
            )
            answer = sent.reply.reply if sent.reply else f"({sent.status}: {sent.detail})"
            self.stdout.write(f"customer: {text}\nagent:    {answer}")
        self.stdout.write(f"Conversation {started.id}: the rep's page is /conversations/{started.id}/")
        self.stdout.write(
            f"As the customer: curl -H 'X-Conversation-Token: {started.token}' "
            f"http://127.0.0.1:8000/api/support/conversations/{started.id}/"
        )
