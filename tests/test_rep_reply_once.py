"""A support rep's reply is one reply however often its form is sent (reviewer_portal.conversations):
the form's submission id is the action's and the Update's, so a double click or a resend after
"not confirmed yet" reaches the customer once. Until the conversation takes it, the rep keeps the
form, text and id (nothing else records the reply); then the box starts afresh. A form without a
valid id sends nothing. Real dev
server; the conversation's worker stops while the rep sends."""

from __future__ import annotations

import time
import uuid

from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import logged_in, make_user
from tests.test_support_conversation import handed_off, tickets, transcript

__all__ = ["tickets"]  # the fixture

REPLY = "Sam here: a new card is on its way."


def rep_texts(client, conversation) -> list[str]:
    return [e["text"] for e in transcript(client, conversation)["entries"] if e["author"] == "rep"]


def test_a_reply_sent_twice_while_the_worker_is_down_reaches_the_customer_once(
    settings, temporal, portal_settings, client
):
    rep = logged_in(make_user("support", "support_rep"))
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        conversation = handed_off(client)
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 1
    url = f"/conversations/{conversation[0]}/reply/"
    form = {"text": REPLY, "submission_id": str(uuid.uuid4())}

    first = rep.post(url, form, headers={"HX-Request": "true"})
    again = rep.post(url, form, headers={"HX-Request": "true"})  # the rep sends it again
    out_of_date = rep.post(url, {"text": "Another reply.", "submission_id": "not-a-uuid"})

    for sent in (first, again):
        page = sent.content.decode()
        assert sent.status_code == 202 and "Not confirmed yet" in page
        box = page.split("<textarea")[1].split("</textarea>")[0]
        assert REPLY in box and "readonly" in box  # kept as it was until it is taken: no edit is dropped
        assert form["submission_id"] in page  # sent again, it is the same reply
        assert 'name="reply" value="1">Send it again' in page and 'name="close"' not in page
    assert out_of_date.status_code == 400 and "This form is out of date, so nothing was sent" in (
        out_of_date.content.decode()
    )
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = 15
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        deadline = time.monotonic() + 30
        while not rep_texts(client, conversation) and time.monotonic() < deadline:
            time.sleep(0.2)
        resent = rep.post(url, form)  # once more, after it reached the run: the same reply
        assert rep_texts(client, conversation) == [REPLY]
    assert resent.status_code == 200 and "Not confirmed" not in resent.content.decode()
    assert form["submission_id"] not in resent.content.decode()  # taken: the next reply is a new one
    temporal.run(temporal.client.get_workflow_handle(conversation[0]).terminate("test done"))
