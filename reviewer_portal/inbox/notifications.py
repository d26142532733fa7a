"""Tell a gate's reviewers: a high-priority gate opened, a gate is about to breach its SLA, or it
escalated to their role. Each active holder of the role gets an in-app notification (the bell)
and, if they have an address, an e-mail.

An Activity (the workflow decides when; the portal knows who and how), run on the worker's
thread pool because it reads users through the ORM. A retried activity adds no second
notification (they are keyed by the event); its e-mails may go again, as before.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import close_old_connections
from temporalio import activity

from agents.framework.contract import NOTIFY_ACTIVITY
from agents.framework.types import GateSnapshot, Notice
from reviewer_portal.notices.selectors import role_holders
from reviewer_portal.notices.services import NoticeEvent, notification_create_for_role
from reviewer_portal.safe_text import storable

SUBJECTS = {
    "opened": "High-priority gate waiting: {subject}",
    "sla_warning": "SLA about to breach: {subject}",
    "escalated": "Escalated to your role: {subject}",
}
FIRST_LINES = {
    "opened": "A high-priority gate is waiting for your role.",
    "sla_warning": "This gate's SLA runs out at {due} and nobody has decided it yet.",
    "escalated": "Nobody decided this gate within its SLA: it is now your role's to decide.",
}
IN_APP = {
    "opened": "High priority, waiting for your role: {subject}.",
    "sla_warning": "SLA about to run out (at {due}): {subject}.",
    "escalated": "Escalated to your role because its SLA ran out: {subject}.",
}


@activity.defn(name=NOTIFY_ACTIVITY)
def notify_reviewers(notice: Notice) -> int:
    """Notify every active holder of the gate's role in the portal, and e-mail those with an
    address; returns how many e-mails were sent."""
    close_old_connections()
    try:
        # Text from history, stored and mailed: a NUL or a lone surrogate becomes U+FFFD.
        gate = dataclasses.replace(notice.gate, subject=storable(notice.gate.subject))
        notification_create_for_role(role=gate.role, event=_event(notice.kind, gate))
        emails = sorted(set(role_holders(gate.role).exclude(email="").values_list("email", flat=True)))
        # A header holds one line, whatever the agent put in the subject.
        subject = SUBJECTS[notice.kind].format(subject=" ".join(gate.subject.split()))
        body = _body(notice.kind, gate)
        return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [e]) for e in emails])
    finally:
        close_old_connections()


def _event(kind: str, gate: GateSnapshot) -> NoticeEvent:
    return NoticeEvent(
        kind=kind,
        gate_id=gate.gate_id,
        subject=gate.subject,
        text=IN_APP[kind].format(subject=gate.subject, due=_due(gate)),
        # The same warning or escalation, delivered again, is the same gate version in the same role.
        event_key=f"{kind}:{gate.gate_id}:v{gate.version}:{gate.role}",
    )


def _due(gate: GateSnapshot) -> str:
    return gate.deadline.strftime("%Y-%m-%d %H:%M UTC")


def _body(kind: str, gate: GateSnapshot) -> str:
    link = f"{settings.PORTAL_URL.rstrip('/')}/gates/{gate.gate_id}/"
    return (
        f"{FIRST_LINES[kind].format(due=_due(gate))}\n\n{gate.subject}\n"
        f"AI recommendation: {gate.recommendation.outcome}\nDue: {_due(gate)}\n\nOpen it: {link}\n"
    )
