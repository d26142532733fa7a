"""`manage.py check`: the agent domains name real agents; with `--deploy`, payloads cannot be
encrypted without production keys for every namespace the portal uses."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from reviewer_portal.codec.keys import payload_keys
from reviewer_portal.domains import configuration_errors, namespaces


@register()
def agent_domains_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(error, hint="See README, 'Namespaces'.", id="codec.E004") for error in configuration_errors()
    ]


@register(Tags.security, deploy=True)
def payload_keys_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        keys = payload_keys()
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="See README, 'Payload encryption'.", id="codec.E001")]
    if keys.dev:
        return [Error("PAYLOAD_KEYS are development keys; production needs its own.", id="codec.E002")]
    missing = sorted(set(namespaces()) - set(keys.namespaces))
    if missing:
        return [Error(f"No payload keys for namespace(s) {', '.join(missing)}.", id="codec.E003")]
    return []
