from __future__ import annotations

from django import template
from django.contrib.auth.models import AbstractBaseUser

from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.own_cases import OwnCase, own_case_of

register = template.Library()


@register.simple_tag
def own_case(gate: Gate, user: AbstractBaseUser) -> OwnCase | None:
    """The gate as the user's own case (they submitted it), for the gate page's four-eyes note."""
    return own_case_of(user=user, gate=gate) if gate.status == Gate.Status.PENDING else None
