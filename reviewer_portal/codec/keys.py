"""The payload keys this process holds, from settings (agents.framework.codec reads the same
variables when it runs without Django, e.g. the document store in a tool)."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.framework.codec import EncryptionCodec, KeyNotFound, PayloadKeys, generate

_loaded: dict[tuple[str, str], PayloadKeys] = {}


def payload_keys() -> PayloadKeys:
    """The configured keys (read once per configuration)."""
    source = (settings.PAYLOAD_KEYS, str(settings.PAYLOAD_KEYS_FILE or ""))
    keys = _loaded.get(source)
    if keys is None:
        keys = _load(*source)
        _loaded[source] = keys
    return keys


def codec_for(namespace: str) -> EncryptionCodec:
    try:
        return EncryptionCodec(payload_keys().of(namespace), namespace)
    except KeyNotFound as err:
        raise ImproperlyConfigured(str(err)) from err


def _load(inline: str, path: str) -> PayloadKeys:
    try:
        if inline:
            return PayloadKeys.from_json(inline)
        if not path:
            raise ImproperlyConfigured("Set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE: payloads are encrypted.")
        return PayloadKeys.from_json(Path(path).read_text())
    except FileNotFoundError as err:
        hint = " (make dev creates them)" if settings.DEBUG else ""
        raise ImproperlyConfigured(f"No payload keys at {path}{hint}.") from err
    except ValueError as err:
        raise ImproperlyConfigured(str(err)) from err


def write_keys(path: Path, text: str) -> None:
    """A new file readable by its owner only; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)


def ensure_dev_keys(path: Path, namespaces: list[str]) -> list[str]:
    """Development keys at `path` for `namespaces`: made once, and added for a namespace that
    joins later (never to keys that are not development keys). Returns the namespaces keyed now."""
    if not path.exists():
        write_keys(path, generate(namespaces, dev=True).to_json())
        return list(namespaces)
    keys = PayloadKeys.from_json(path.read_text())
    missing = [name for name in namespaces if name not in keys.namespaces]
    if not missing or not keys.dev:
        return []
    extended = PayloadKeys({**keys.namespaces, **generate(missing, dev=True).namespaces}, dev=True)
    fresh = path.with_suffix(".new")
    fresh.unlink(missing_ok=True)
    write_keys(fresh, extended.to_json())
    os.replace(fresh, path)
    return missing


def refuse_dev_keys_in_production() -> None:
    """At start-up without DEBUG: development keys, if configured, stop the process."""
    try:
        keys = payload_keys()
    except ImproperlyConfigured:
        return  # not configured yet (e.g. `payload_keys new`); check --deploy reports it
    if keys.dev:
        raise ImproperlyConfigured("PAYLOAD_KEYS are development keys; production needs its own.")
