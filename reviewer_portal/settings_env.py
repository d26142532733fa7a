"""What every settings module reads first: the project's folders, the environment (and `.env`),
DEBUG, and `secret()`, for values that may come from a mounted secret file.

Numbers are read as Python reads them, or refused with the setting's name: django-environ's own
reader took `1e3` seconds as 13 (it drops every character but digits, dots, commas and minus
signs), `10 s` as 10 and `1,5` as 1.5, and refused `sixteen` without naming the setting."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+(_[0-9]+)*")  # as Python writes them: 1_000


class Env(environ.Env):
    """django-environ's reader, strict about numbers; empty counts as unset."""

    def int(self, var: str, default: Any = environ.Env.NOTSET) -> Any:
        raw = self._raw(var, default)
        if raw is None:
            return default
        if not WHOLE_NUMBER.fullmatch(raw):
            raise ImproperlyConfigured(f"{var} must be a whole number, not {raw!r}")
        return int(raw)

    def float(self, var: str, default: Any = environ.Env.NOTSET) -> Any:
        raw = self._raw(var, default)
        if raw is None:
            return default
        try:
            value = float(raw) if raw.isascii() else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ImproperlyConfigured(f"{var} must be a number, not {raw!r}")
        return value

    def _raw(self, var: str, default: Any) -> str | None:
        """The variable's text, stripped; None when it is unset or empty and has a default."""
        raw = self.ENVIRON.get(var, "").strip()
        if raw:
            return raw
        if default is self.NOTSET:
            raise ImproperlyConfigured(f"Set the {var} environment variable")
        return None


env = Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def secret(name: str, default: object = "") -> str:
    """`NAME` from the environment, else the contents of the file `NAME_FILE` names (a mounted
    secret); secrets never have a production default."""
    path = os.environ.get(f"{name}_FILE")
    if path and not os.environ.get(name):
        try:
            return Path(path).read_text().strip()
        except OSError as err:  # said by name, not as a traceback at start
            raise ImproperlyConfigured(
                f"{name}_FILE names {path}, which cannot be read ({err.strerror})."
            ) from None
    return env.str(name, default=default)
