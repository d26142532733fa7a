"""Redaction of keys and tokens from text: log records, and provider error messages before they
become failures in history (a provider may echo the API key it refused).

`redact` removes the given secrets, whatever they look like, and anything shaped like a key or
token: `sk-…` provider keys, the portal's `rpc_…` codec tokens, `Bearer …` and `Basic …`
credentials, JWTs, PEM private keys, long mixed-case base64 or hex strings, passwords in URLs,
and the value after `password=`, `api_key:`, `token=` and the like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

TOKEN_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\brpc_[A-Za-z0-9_-]{16,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # 30 bytes or more of base64 mixing cases and digits (AES and Ed25519 keys, most providers'
    # API keys), or of hex; file paths and identifiers with hyphens do not look like this.
    re.compile(
        r"(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])[A-Za-z0-9+/]{40,}={0,2}"
    ),
    # (A digest written as "sha256:<hex>", such as the archive's chain head, is not a secret.)
    re.compile(r"(?<!sha256:)\b[0-9a-fA-F]{64,}\b"),
]
# `password=...`, `"api_key": "..."`, `token: ...`: the name stays, the value (unless a number) goes.
NAMED_SECRET = re.compile(
    r"""(?ix)
    ((?<![a-z0-9])(?:password|passwd|secret|api[_-]?key|access[_-]?token|token|authorization|private[_-]?key)
     ["']?\s*[:=]\s*["']?)
    (?!\d+\b)([^\s"',;&]+)
    """
)
# scheme://user:password@host: the password goes.
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        text = text.replace(value, REDACTED)
    for shape in TOKEN_SHAPES:
        text = shape.sub(REDACTED, text)
    text = URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
    return NAMED_SECRET.sub(rf"\1{REDACTED}", text)
