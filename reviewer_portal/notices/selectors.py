"""Reads of a user's notifications, always scoped to that user, and who holds a gate role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from agents.framework.types import ADMIN_ROLE
from reviewer_portal.notices.models import Notification

PER_PAGE = 25


def unread_count_for(*, user: AbstractBaseUser | AnonymousUser) -> int:
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()


def notifications_for(*, user: AbstractBaseUser, page_number: str | None = None) -> Page[Notification]:
    """The user's notifications, newest first, a page at a time."""
    notices = Notification.objects.filter(recipient_id=user.pk).order_by("-created_at", "-id")
    return Paginator(notices, PER_PAGE).get_page(page_number)


def role_holders(role: str) -> QuerySet[User]:
    """The active users who act in `role` (superusers for the admin pseudo-role)."""
    users = User.objects.filter(is_active=True)
    return (
        users.filter(is_superuser=True) if role == ADMIN_ROLE else users.filter(groups__name=role).distinct()
    )


def active_user(user_id: str) -> User | None:
    """The active user a gate names by id (assignee, submitter); None for anything else."""
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    return User.objects.filter(pk=int(user_id), is_active=True).first()
