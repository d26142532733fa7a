"""Files kept beside history (uploaded documents, their sections) encrypted at rest with the same
keys as the namespace's payloads.

A sealed file is `MAGIC`, the key id and a newline, then nonce and AES-256-GCM ciphertext. The
namespace and the file's name are bound in, so a file copied under another name, or into another
domain's store, does not open. Files written before encryption (no magic) still read.

They live under DOCUMENT_STORE_DIR (default var/documents in the project), one folder per
namespace: a volume the portal and every worker replica share in production.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from agents.framework.codec import NamespaceKeys

MAGIC = b"sealed-file/v1\n"
STORE_DIR_ENV = "DOCUMENT_STORE_DIR"
DEFAULT_STORE_DIR = Path(__file__).resolve().parents[2] / "var" / "documents"


def store_root() -> Path:
    """Where the files beside history live, as configured."""
    return Path(os.environ.get(STORE_DIR_ENV) or DEFAULT_STORE_DIR)


def seal(keys: NamespaceKeys, namespace: str, name: str, plaintext: bytes) -> bytes:
    key_id, sealed = keys.seal(plaintext, _context(namespace, name))
    return MAGIC + key_id.encode() + b"\n" + sealed


def unseal(keys: NamespaceKeys, namespace: str, name: str, data: bytes) -> bytes:
    if not data.startswith(MAGIC):
        return data  # written before files were encrypted
    key_id, _, sealed = data[len(MAGIC) :].partition(b"\n")
    return keys.open(key_id.decode("utf-8", "replace"), sealed, _context(namespace, name))


def write_sealed(path: Path, keys: NamespaceKeys, namespace: str, plaintext: bytes) -> None:
    """Seal `plaintext` into `path` (named by its file name), written then renamed so a reader
    never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = seal(keys, namespace, path.name, plaintext)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(body)
    os.replace(tmp.name, path)


def read_sealed(path: Path, keys: NamespaceKeys, namespace: str) -> bytes:
    return unseal(keys, namespace, path.name, path.read_bytes())


def _context(namespace: str, name: str) -> bytes:
    return f"sealed-file/{namespace}/{name}/".encode()
