"""Show agent data (JSON from workflow history) to people: labels and values, not Python reprs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def label(key: str) -> str:
    """`annual_income` -> `Annual income`."""
    return key.replace("_", " ").capitalize()


@register.filter
def tool_label(name: str) -> str:
    """`regulatory.record_finding` -> `Record finding`: what a tool does, not its registry name."""
    return label(name.rsplit(".", 1)[-1])


@register.filter
def recommendation_label(gate: Any) -> str:
    """What the AI recommends, in words: a tool call's action, or the outcome (`no_action` ->
    `No action`), never a registry name."""
    if getattr(gate, "tool_call", None):
        return tool_label(
            gate.tool_call.get("name", "") if isinstance(gate.tool_call, dict) else gate.tool_call.name
        )
    return label(gate.recommendation)


@register.filter
def display(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None or value == [] or value == "":
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{label(k)}: {display(v)}" for k, v in value.items())
    if isinstance(value, list):
        # Records (e.g. holdings) one per line; plain values on one line.
        separator = "\n" if any(isinstance(v, dict) for v in value) else "; "
        return separator.join(display(v) for v in value)
    if isinstance(value, float) and not value.is_integer():
        return intcomma(f"{value:.2f}") if abs(value) >= 1 else f"{value:g}"
    if isinstance(value, int | float):
        return intcomma(int(value))
    return str(value)


@register.filter
def iso_datetime(value: str) -> datetime | None:
    """An ISO 8601 string from workflow data as a datetime, for the `date` filter."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
