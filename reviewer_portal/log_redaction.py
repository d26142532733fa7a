"""A logging filter that keeps keys and tokens out of logs.

Installed on every handler (settings.LOGGING), so it covers the portal, the worker sidecar and the
commands. Each record's message and traceback lose the configured secrets (SECRET_KEY, provider
and Temporal API keys, payload and signing keys, passwords in service URLs) and anything shaped
like a key or token (agents/framework/redaction.py).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from agents.framework.redaction import redact

# Shorter than this, a configured "secret" would redact ordinary words (e.g. a dev password).
MIN_SECRET_LENGTH = 8
# 32 bytes in base64.
KEY_MATERIAL_LENGTH = 43


KEY_DOCUMENTS = (
    "PORTAL_SIGNING_KEY",
    "ARCHIVE_SIGNING_KEY",
    "PAYLOAD_KEYS",
)  # JSON documents, inline or in NAME_FILE


@dataclass(frozen=True)
class SecretSources:
    plain: tuple[str, ...]  # secrets as they are
    key_documents: tuple[str, ...]  # key documents inline, else ...
    key_files: tuple[str, ...]  # ... the files holding them
    urls: tuple[str, ...]  # service URLs, which may carry a password


def configured_secrets() -> list[str]:
    """The secret values in the settings now, longest first (a secret inside another goes whole)."""

    def value(name: str) -> str:
        return str(getattr(settings, name, "") or "")

    databases = getattr(settings, "DATABASES", {})
    sources = SecretSources(
        plain=(
            *(
                value(name)
                for name in ("SECRET_KEY", "OPENAI_API_KEY", "TEMPORAL_API_KEY", "EMAIL_HOST_PASSWORD")
            ),
            *(str(database.get("PASSWORD") or "") for database in databases.values()),
            *getattr(settings, "AGENT_OPENAI_API_KEYS", {}).values(),
        ),
        key_documents=tuple(value(name) for name in KEY_DOCUMENTS),
        key_files=tuple(value(f"{name}_FILE") for name in KEY_DOCUMENTS),
        urls=(value("REDIS_URL"),),
    )
    return _secrets_of(sources)


@functools.lru_cache(maxsize=4)
def _secrets_of(sources: SecretSources) -> list[str]:
    found = set(sources.plain)
    for document, path in zip(sources.key_documents, sources.key_files, strict=True):
        found.update(_key_material(document or _read(path)))
    found.update(urlsplit(url).password or "" for url in sources.urls)
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _read(path: object) -> str:
    try:
        return Path(str(path)).read_text() if path else ""
    except OSError:
        return ""


def _key_material(document: str) -> list[str]:
    """The keys in a JSON key document: its string leaves long enough to be key material (key ids
    and names stay readable in logs)."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, str) and len(node) >= KEY_MATERIAL_LENGTH:
            found.append(node)

    walk(parsed)
    return found


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) with its secrets redacted; drops nothing."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _known_secrets()
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep the message, drop them
            message = str(record.msg)
        record.msg, record.args = redact(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def _known_secrets() -> list[str]:
    """The configured secrets, wherever the record is logged. The SDK logs a failed workflow task
    from inside the workflow sandbox: the settings are the process's own, imported with this
    module (an import inside the sandbox would give it a fresh, unconfigured Django)."""
    try:
        return configured_secrets()
    except Exception:  # settings not ready yet (a record logged while they load): shapes only
        return []
