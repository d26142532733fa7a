"""Text from Temporal history made safe to store and render.

History can hold strings no page can encode and PostgreSQL will not store: a lone surrogate (JSON
allows "\\ud800") or a NUL. The workflow refuses them in reviewer actions now, but older runs, model
output and case data may still carry them; each becomes U+FFFD on the way into the portal.
"""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def storable(value: Any) -> Any:
    """`value` (JSON-like: str, list, dict, scalars) with every unstorable character replaced."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
