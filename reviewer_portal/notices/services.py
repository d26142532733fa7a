"""Writes of in-app notifications: one per recipient and event, however often the event arrives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from reviewer_portal.notices.live import push_notices_changed
from reviewer_portal.notices.models import Notification
from reviewer_portal.notices.selectors import role_holders
from reviewer_portal.run_ids import RUN_ID_PATTERN
from reviewer_portal.safe_text import storable

# A mark-read request names at most this many notifications (a page shows 25).
MAX_IDS = 100
# How long a read notification is kept.
RETENTION = timedelta(days=90)


@dataclass(frozen=True)
class NoticeEvent:
    """Something to tell people about a gate. `event_key` names the event, so a redelivery (an
    activity retried, a gate version applied twice) adds nothing."""

    kind: str
    gate_id: str
    subject: str
    text: str
    event_key: str

    @property
    def link(self) -> str:
        # An id no gate URL can carry (none the portal starts) leads to the inbox, not an error.
        if RUN_ID_PATTERN.fullmatch(self.gate_id):
            return reverse("inbox:gate", args=[self.gate_id])
        return reverse("inbox:list")


def notification_create_for_role(*, role: str, event: NoticeEvent) -> list[int]:
    """Notify every active holder of `role`; returns their user ids."""
    return _create(role_holders(role), event)


def notification_create_for_user(*, user: User, event: NoticeEvent, link: str | None = None) -> bool:
    """Notify one user (link: where the notice leads, if not the gate's page); False if they
    already had this event's notice."""
    _, created = Notification.objects.get_or_create(
        recipient=user, event_key=storable(event.event_key[:300]), defaults=_fields(event, link)
    )
    if created:
        recipient = user.pk
        transaction.on_commit(lambda: push_notices_changed([recipient]))
    return created


def notifications_mark_read(*, user: AbstractBaseUser, ids: Sequence[int] = (), all: bool = False) -> int:
    """Mark the user's own notifications read (those in `ids`, or all); returns how many.
    Ids of other users' notifications change nothing."""
    if len(ids) > MAX_IDS:
        raise ValueError(f"At most {MAX_IDS} notifications at a time.")
    unread = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    if not all:
        unread = unread.filter(pk__in=ids)
    marked = unread.update(read_at=timezone.now())
    # The user's read notices older than the retention go now: the table stays bounded with no
    # job to schedule (unread ones stay until read).
    Notification.objects.filter(
        recipient_id=user.pk, read_at__isnull=False, created_at__lt=timezone.now() - RETENTION
    ).delete()
    if marked:
        recipient = user.pk
        transaction.on_commit(lambda: push_notices_changed([recipient]))
    return marked


def _create(users: Iterable[User], event: NoticeEvent) -> list[int]:
    rows = [
        Notification(recipient=user, event_key=storable(event.event_key[:300]), **_fields(event, None))
        for user in users
    ]
    # The unique (recipient, event_key) makes a second delivery of the same event a no-op.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    recipients = [row.recipient.pk for row in rows]
    if recipients:
        transaction.on_commit(lambda: push_notices_changed(recipients))
    return recipients


def _fields(event: NoticeEvent, link: str | None) -> dict[str, str]:
    return {
        "kind": event.kind,
        "gate_id": storable(event.gate_id[:200]),
        # Whoever called, nothing PostgreSQL refuses (a NUL, a lone surrogate) reaches it.
        "subject": storable(event.subject[:300]),
        "link": link or event.link,
        "text": storable(event.text),
    }
