from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()
NO_FIGURE = "\N{EN DASH}"


@register.filter
def duration(value: timedelta | None) -> str:
    """A time to decision as people say it: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if value is None:
        return NO_FIGURE
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


@register.filter
def percent(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{value * 100:.0f} %"
