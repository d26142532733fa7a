"""The flags of pending gates, worked out again under the agents' rules as deployed now.

A row keeps the flags its writer worked out (Gate.flags). A release that changes an agent's rules
(AgentSpec.flags) would leave pending rows with the old rules' flags until their runs next wrote
them: a gate the new rules flag still offered for a bulk decision in the inbox (the bulk service
checks again, live, and refuses it), one they no longer flag still without its checkbox. So each
`migrate`, which every release runs, ends by working them out again; a row its run changed
meanwhile is left to that write.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, connections

from reviewer_portal.inbox.freshness import bump_roles
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.presentation import flags_of

CHUNK = 500


def refresh_pending_flags(using: str = DEFAULT_DB_ALIAS) -> int:
    """Work out the flags of every pending gate again; the number of rows whose flags changed."""
    changed, roles = 0, set()
    pending = Gate.objects.using(using).filter(status=Gate.Status.PENDING)
    for gate in pending.only("agent", "case", "tool_results", "version", "flags", "role").iterator(CHUNK):
        flags = flags_of(gate.agent, gate.case or {}, gate.tool_results or [])
        if flags != gate.flags and pending.filter(pk=gate.pk, version=gate.version).update(flags=flags):
            changed += 1
            roles.add(gate.role)
    if roles:
        bump_roles(roles)  # the inbox tables kept for those roles show the new flags
    return changed


def refresh_after_migrate(
    sender: Any, *, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs: Any
) -> None:
    """post_migrate receiver (InboxConfig.ready), which Django sends after every `migrate`, of any
    app. Only where the state migrated to (`apps`) keeps the inbox's gates with their flags: not
    after `migrate inbox zero`, a `migrate` back to before flags, or on a database without them."""
    try:
        gate = apps.get_model("inbox", "Gate")
    except LookupError:
        return
    if not any(field.name == "flags" for field in gate._meta.get_fields()):
        return
    if Gate._meta.db_table not in connections[using].introspection.table_names():
        return
    refresh_pending_flags(using)
