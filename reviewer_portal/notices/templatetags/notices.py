"""The header's bell reads its count here, so no view has to put it in every page's context."""

from __future__ import annotations

from typing import Any

from django import template

from reviewer_portal.notices.selectors import unread_count_for

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notices(context: dict[str, Any]) -> int:
    request = context.get("request")
    return unread_count_for(user=request.user) if request is not None else 0
