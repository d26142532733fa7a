"""What every settings module reads first: the project's folders, the environment (and `.env`),
DEBUG, and `secret()`, for values that may come from a mounted secret file."""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def secret(name: str, default: object = "") -> str:
    """`NAME` from the environment, else the contents of the file `NAME_FILE` names (a mounted
    secret); secrets never have a production default."""
    path = os.environ.get(f"{name}_FILE")
    if path and not os.environ.get(name):
        return Path(path).read_text().strip()
    return env.str(name, default=default)
