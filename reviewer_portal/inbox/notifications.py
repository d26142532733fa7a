"""E-mail to a gate's reviewers: a high-priority gate opened, or a gate is about to breach its SLA.

An Activity (the workflow decides when; the portal knows who and how), run on the worker's
thread pool because it reads users through the ORM.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mass_mail
from django.db import close_old_connections
from django.db.models import QuerySet
from temporalio import activity

from agents.framework.contract import NOTIFY_ACTIVITY
from agents.framework.types import ADMIN_ROLE, GateSnapshot, Notice

SUBJECTS = {
    "opened": "High-priority gate waiting: {subject}",
    "sla_warning": "SLA about to breach: {subject}",
    "escalated": "Escalated to your role: {subject}",
}


@activity.defn(name=NOTIFY_ACTIVITY)
def notify_reviewers(notice: Notice) -> int:
    """Send one e-mail per reviewer who holds the gate's role; returns how many were sent."""
    close_old_connections()
    try:
        emails = sorted(set(_reviewers(notice.gate.role).exclude(email="").values_list("email", flat=True)))
        subject = SUBJECTS[notice.kind].format(subject=notice.gate.subject)
        body = _body(notice.kind, notice.gate)
        return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [e]) for e in emails])
    finally:
        close_old_connections()


def _reviewers(role: str) -> QuerySet[User]:
    users = User.objects.filter(is_active=True)
    return users.filter(is_superuser=True) if role == ADMIN_ROLE else users.filter(groups__name=role)


def _body(kind: str, gate: GateSnapshot) -> str:
    link = f"{settings.PORTAL_URL.rstrip('/')}/gates/{gate.gate_id}/"
    due = gate.deadline.strftime("%Y-%m-%d %H:%M UTC")
    first = (
        "A high-priority gate is waiting for your role."
        if kind == "opened"
        else "Nobody decided this gate within its SLA: it is now your role's to decide."
        if kind == "escalated"
        else (f"This gate's SLA runs out at {due} and nobody has decided it yet.")
    )
    return (
        f"{first}\n\n{gate.subject}\nAI recommendation: {gate.recommendation.outcome}\n"
        f"Due: {due}\n\nOpen it: {link}\n"
    )
