"""Notifications the projection's writes imply: a gate assigned to someone (by someone else), and
a decision on someone's submission. Told in the portal and, if the user has an address, by e-mail.

Called by reviewer_portal.inbox.projection with the row's state before the write (None for a new
row) and the snapshot written. Nothing here may fail that write: the notices are made in a
savepoint, the e-mails sent after the commit, and any error is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.notices.models import Notification
from reviewer_portal.notices.selectors import active_user
from reviewer_portal.notices.services import NoticeEvent, notification_create_for_user

logger = logging.getLogger(__name__)

BEFORE_FIELDS = ("status", "assignee_id")
DECISIONS = {
    "approved": "Your submission {subject} was approved by {who}.",
    "rejected": "Your submission {subject} was rejected by {who}.",
    "changes_requested": "{who} requested changes to your submission {subject}.",
}
MAIL_SUBJECTS = {
    Notification.Kind.ASSIGNED: "Assigned to you: {subject}",
    Notification.Kind.DECIDED: "Decision on your submission: {subject}",
}


def gate_state_before(rows: Any) -> dict[str, Any] | None:
    """What the notices compare, read from the (locked) row about to be written."""
    result: dict[str, Any] | None = rows.values(*BEFORE_FIELDS).first()
    return result


def notices_for_gate_change(*, before: dict[str, Any] | None, after: GateSnapshot) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the gate's write whole
            _assigned(before, after)
            _decided(before, after)
    except Exception:
        logger.exception("Notifications for gate %s v%s not made", after.gate_id, after.version)


def _assigned(before: dict[str, Any] | None, after: GateSnapshot) -> None:
    if not after.assignee_id or (before is not None and before["assignee_id"] == after.assignee_id):
        return
    user = active_user(after.assignee_id)
    if user is None:
        return
    action = _assigning_action(after.gate_id, user)
    if action is not None and action[1] == user.pk:
        return  # a claim: the assignee did it themselves
    event = NoticeEvent(
        kind=Notification.Kind.ASSIGNED,
        gate_id=after.gate_id,
        subject=after.subject,
        text=f"{action[2]} assigned you: {after.subject}."
        if action
        else f"Assigned to you: {after.subject}.",
        # The portal's action names the assignment, however many versions later it is seen again;
        # without one (none recorded), the assignee at this escalation level does.
        event_key=f"assigned:{after.gate_id}:"
        + (action[0] if action else f"{after.assignee_id}:level{after.escalation_level}"),
    )
    _tell(user, event)


def _decided(before: dict[str, Any] | None, after: GateSnapshot) -> None:
    if after.status not in DECISIONS or (before is not None and before["status"] == after.status):
        return
    user = active_user(after.submitted_by_id)
    if user is None:
        return
    who = after.decided_by or "a reviewer"
    event = NoticeEvent(
        kind=Notification.Kind.DECIDED,
        gate_id=after.gate_id,
        subject=after.subject,
        text=DECISIONS[after.status].format(subject=after.subject, who=who),
        event_key=f"decided:{after.gate_id}:{after.status}:{after.decision_id or after.version}",
    )
    # A submitter follows their case in My submissions (they may not review the gate itself).
    _tell(user, event, link=reverse("history:submissions"))


def _assigning_action(gate_id: str, user: User) -> tuple[str, int, str] | None:
    """The portal's latest action that gave the gate to `user`: its id, and who took it (id, name)."""
    latest: tuple[str, int, str] | None = (
        ActionAttempt.objects.filter(gate_id=gate_id, action=ActionAttempt.Action.ASSIGN, assignee=user)
        .order_by("-created_at")
        .values_list("action_id", "reviewer_id", "reviewer__username")
        .first()
    )
    return latest


def _tell(user: User, event: NoticeEvent, *, link: str | None = None) -> None:
    if notification_create_for_user(user=user, event=event, link=link) and user.email:
        # A header holds one line, whatever the agent put in the subject.
        one_line = " ".join(event.subject.split())
        subject = MAIL_SUBJECTS[Notification.Kind(event.kind)].format(subject=one_line)
        url = f"{settings.PORTAL_URL.rstrip('/')}{link or event.link}"
        body = f"{event.text}\n\nOpen it: {url}\n"
        email = user.email
        transaction.on_commit(lambda: _send(subject, body, email, event.event_key))


def _send(subject: str, body: str, email: str, event_key: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    except Exception:
        logger.exception("E-mail for %s not sent", event_key)
