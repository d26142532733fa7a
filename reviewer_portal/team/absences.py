"""Who is absent now: the one question inbox code asks of the team app (whom to offer as an
assignee), kept apart from the team's selectors so the inbox imports nothing else of it."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from reviewer_portal.team.models import Absence


def absences_current(*, now: datetime | None = None) -> QuerySet[Absence]:
    """Absences in force at `now` (started, and not ended)."""
    moment = now or timezone.now()
    return Absence.objects.filter(Q(until__isnull=True) | Q(until__gt=moment), since__lte=moment)


def users_present(users: QuerySet[User], *, now: datetime | None = None) -> QuerySet[User]:
    """`users` without those absent at `now`."""
    return users.exclude(pk__in=absences_current(now=now).values("user_id"))


def absence_of(user: AbstractBaseUser) -> Absence | None:
    """The user's absence in force now, if any."""
    return absences_current().filter(user=user).select_related("marked_by").first()


def absent_claim_refusal(user: AbstractBaseUser) -> str:
    """Why `user` may not claim a gate now ("" if they may): their claims were released when they
    were marked absent, so the team view stays true."""
    away = absence_of(user)
    if away is None:
        return ""
    return (
        f"You are marked absent (since {away.since:%Y-%m-%d %H:%M} UTC, by {away.marked_by.get_username()}): "
        "ask a supervisor to mark you present before you claim gates."
    )
