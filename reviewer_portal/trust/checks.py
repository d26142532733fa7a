"""`manage.py check --deploy`: the portal cannot sign reviewer actions without a production key, and
an archive key given must sign what verifiers take."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from reviewer_portal.trust.archive_key import archive_key_refusal
from reviewer_portal.trust.keys import signing_key


@register(Tags.security, deploy=True)
def signing_key_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        signing_key()
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="See README, 'Trust model'.", id="trust.E001")]
    refusal = archive_key_refusal()
    if refusal:
        return [
            Error(refusal, hint="`manage.py signing_key archive-key --out FILE` makes one.", id="trust.E002")
        ]
    return []
