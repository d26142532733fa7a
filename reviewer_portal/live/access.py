"""Who an open /ws/gates/ socket may still speak for: its session is checked again, not only at
the handshake.

A socket is told to check at once when its user's access changes through the portal (roles added
or removed from either side, a group renamed or deleted, the account saved: deactivated, a new
password, and a sign-out), by an event to the user's own group; and it checks itself about every
RECHECK_SECONDS, or at the first push after that (reviewer_portal.live.consumers), for what no signal tells:
sessions ended in the database, an update in bulk, the session limits passing. A socket whose
session may no longer hear is closed; one whose roles changed joins and leaves groups to match.
"""

from __future__ import annotations

import time
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_delete

from reviewer_portal.accounts.session_limits import limit_passed
from reviewer_portal.live.broadcast import push
from reviewer_portal.live.groups import groups_of, user_group

ACCESS_CHANGED = {"type": "access.changed"}


def groups_allowed(session_key: str | None, user_pk: Any) -> list[str] | None:
    """The groups a socket of this session may hear now; None if the session is signed out (ended,
    past its limits, its password changed), or no longer `user_pk`'s, or the user inactive."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # Django's own check of a request's session (its user, the password's hash, the backend's
    # is_active), on the session as the store holds it now.
    user = get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if not user.is_authenticated or user.pk != user_pk or limit_passed(session, time.time()):
        return None
    return [*groups_of(user), user_group(user.pk)]


def tell_sockets_of(*user_pks: Any, ended_session: str | None = None) -> None:
    """The users' open sockets check their access again, once the change is committed; those of
    `ended_session` (signed out just now, its session not flushed yet) close without checking."""
    event = {**ACCESS_CHANGED, "ended_session": ended_session}
    groups = [user_group(pk) for pk in user_pks]
    transaction.on_commit(lambda: push(groups, event, what="access change"))


def _roles_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """From a user (user.groups.add: `instance` is the user), or from a group (group.user_set.add:
    `pk_set` are its users; on a clear, its members are known only before it)."""
    if reverse and action == "pre_clear":
        instance._live_members = list(instance.user_set.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove", "post_clear"):
        told = (pk_set or getattr(instance, "_live_members", ())) if reverse else [instance.pk]
        tell_sockets_of(*told)


def _group_changed(sender: Any, instance: Group, **kwargs: Any) -> None:
    """A group renamed or deleted: a role is a group's name, so its members' roles changed."""
    if instance.pk is not None:
        tell_sockets_of(*instance.user_set.values_list("pk", flat=True))


def _account_saved(sender: Any, instance: Any, created: bool, update_fields: Any, **kwargs: Any) -> None:
    if not created and set(update_fields or ()) != {"last_login"}:  # logging in changes nothing
        tell_sockets_of(instance.pk)


def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        tell_sockets_of(
            user.pk, ended_session=getattr(getattr(request, "session", None), "session_key", None)
        )


def connect_signals() -> None:
    user_model = get_user_model()
    m2m_changed.connect(_roles_changed, sender=user_model.groups.through, dispatch_uid="live.roles_changed")
    post_save.connect(_account_saved, sender=user_model, dispatch_uid="live.account_saved")
    user_logged_out.connect(_signed_out, dispatch_uid="live.signed_out")
    post_save.connect(_group_changed, sender=Group, dispatch_uid="live.group_saved")
    pre_delete.connect(_group_changed, sender=Group, dispatch_uid="live.group_deleted")
