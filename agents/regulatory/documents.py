"""The claim-check store for uploaded documents, and how a document is split into sections.

A document's text never travels through workflow history: the portal stores the uploaded file
here and starts the review with only its id; the run reads it (agents/regulatory/reading.py),
stores its sections under the text's id, and the tools read sections back by id. Everything is
encrypted at rest with the domain's payload keys (agents/framework/sealed_files.py). The store is
plain files under DOCUMENT_STORE_DIR (default var/documents in the project), so the portal and the
worker reach it without Django. In the embedded stack both run on one machine; in production the
directory is a volume shared by the portal and every worker replica (or swap this class for an
object store with the same methods).

Each document file holds the sections as split when it was read, so a running review always sees
the sections it started with, even if the splitting rules change later.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.framework.codec import KeyNotFound, NamespaceKeys, PayloadKeys
from agents.framework.sealed_files import STORE_DIR_ENV as STORE_DIR_ENV  # where the tests point it
from agents.framework.sealed_files import read_sealed, store_root, write_sealed

# Sections longer than this are cut into parts, so one tool result stays a readable size.
MAX_SECTION_CHARS = 6000
# Without headings, a document is read in chunks of about this size, cut at paragraph breaks.
CHUNK_CHARS = 3000
MAX_HEADING_CHARS = 100

_DOCUMENT_ID = re.compile(r"[0-9a-f]{64}")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(?P<title>\S.*)$")
# "1. Scope", "2.1 Fees and charges", "3) Complaints"; a numbered sentence ends with a full stop.
_NUMBERED_HEADING = re.compile(r"^\d+(\.\d+)*[.)]?\s+[A-Z].*[^.:;,]$")


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


@dataclass(frozen=True)
class StoredDocument:
    document_id: str
    sections: int


class DocumentNotFound(LookupError):
    pass


class DocumentStore:
    """Content-addressed files per namespace: `<namespace>/<sha256>.json` a document's sections,
    `<namespace>/uploads/<sha256>` an uploaded file as it came; sealed with the namespace's keys."""

    def __init__(self, root: Path, keys: NamespaceKeys, namespace: str) -> None:
        self.root = root
        self.directory = root / namespace
        self._keys = keys
        self._namespace = namespace

    @classmethod
    def from_env(cls, namespace: str) -> DocumentStore:
        """The store of the domain running in `namespace`, with that namespace's keys."""
        keys = PayloadKeys.from_env().of(namespace)
        return cls(store_root(), keys, namespace)

    def put(self, text: str) -> StoredDocument:
        """Store `text` (idempotent: the same text has the same id and is written once)."""
        document_id = hashlib.sha256(text.encode()).hexdigest()
        sections = split_sections(text)
        body = json.dumps({"document_id": document_id, "sections": [asdict(s) for s in sections]})
        self._keep(self._path(document_id), body.encode())
        return StoredDocument(document_id, len(sections))

    def sections(self, document_id: str) -> list[Section]:
        path = self._path(document_id)
        if not path.exists():  # stored before the store had a folder per namespace
            path = self.root / path.name
        try:
            body = json.loads(read_sealed(path, self._keys, self._namespace))
        except FileNotFoundError as err:
            raise DocumentNotFound(f"No document {document_id} in the document store.") from err
        return [Section(**s) for s in body["sections"]]

    def put_upload(self, data: bytes) -> str:
        """Keep an uploaded file as it came, until the run reads it; returns its id."""
        upload_id = hashlib.sha256(data).hexdigest()
        self._keep(self._upload_path(upload_id), data)
        return upload_id

    def upload(self, upload_id: str) -> bytes:
        try:
            return read_sealed(self._upload_path(upload_id), self._keys, self._namespace)
        except FileNotFoundError as err:
            raise DocumentNotFound(f"No uploaded file {upload_id} in the document store.") from err

    def put_finding(self, finding: dict[str, Any]) -> str:
        """Keep a recorded finding (content-addressed: the same finding is written once); returns
        its id, which is all a long review carries of it from one run to the next."""
        body = json.dumps(finding, sort_keys=True).encode()
        finding_ref = hashlib.sha256(body).hexdigest()
        self._keep(self._finding_path(finding_ref), body)
        return finding_ref

    def finding(self, finding_ref: str) -> dict[str, Any]:
        """A finding kept by `put_finding`; a missing or altered one raises (never guessed)."""
        path = self._finding_path(finding_ref)
        try:
            body = read_sealed(path, self._keys, self._namespace)
        except FileNotFoundError as err:
            raise DocumentNotFound(f"No finding {finding_ref} in the document store.") from err
        if hashlib.sha256(body).hexdigest() != finding_ref:
            raise ValueError(f"Finding {finding_ref} in the document store is not the one recorded.")
        finding: dict[str, Any] = json.loads(body)
        return finding

    def _keep(self, path: Path, plaintext: bytes) -> None:
        """Write once: a file already there that these keys open holds the same content (its name
        is the content's hash); one they cannot open (sealed with keys since lost) is replaced."""
        if path.exists():
            try:
                read_sealed(path, self._keys, self._namespace)
                return
            except (KeyNotFound, ValueError):
                pass
        write_sealed(path, self._keys, self._namespace, plaintext)

    def _path(self, document_id: str) -> Path:
        # Ids come from tool arguments the model wrote: never let one name another path.
        if not _DOCUMENT_ID.fullmatch(document_id):
            raise ValueError("A document id is the 64 hex digits of its sha256.")
        return self.directory / f"{document_id}.json"

    def _finding_path(self, finding_ref: str) -> Path:
        if not _DOCUMENT_ID.fullmatch(finding_ref):
            raise ValueError("A finding id is the 64 hex digits of its sha256.")
        return self.directory / "findings" / f"{finding_ref}.json"

    def _upload_path(self, upload_id: str) -> Path:
        if not _DOCUMENT_ID.fullmatch(upload_id):
            raise ValueError("An upload id is the 64 hex digits of its sha256.")
        return self.directory / "uploads" / upload_id


def split_sections(text: str) -> list[Section]:
    """Split at heading lines (numbered, Markdown '#', or ALL CAPS); without any, fixed-size chunks.

    Text before the first heading becomes a "Preamble" section; long sections are cut into parts.
    """
    sections: list[Section] = []
    heading, body = "", []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        title = heading_title(line)
        if title is None:
            body.append(line)
            continue
        if heading or "\n".join(body).strip():
            sections.append(Section(heading or "Preamble", "\n".join(body).strip()))
        heading, body = title, []
    if heading:
        sections.append(Section(heading, "\n".join(body).strip()))
    elif not sections:
        return _chunks("\n".join(body).strip(), "Document")
    return [part for section in sections for part in _parts(section)]


def heading_title(line: str) -> str | None:
    """The heading a line announces, or None if it is body text."""
    line = line.strip()
    if not line or len(line) > MAX_HEADING_CHARS:
        return None
    if match := _MARKDOWN_HEADING.match(line):
        return match["title"].strip().rstrip("#").strip()
    if _NUMBERED_HEADING.match(line):
        return line
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and line == line.upper() and not line.endswith("."):
        return line
    return None


def _parts(section: Section) -> list[Section]:
    if len(section.text) <= MAX_SECTION_CHARS:
        return [section]
    return _chunks(section.text, section.heading)


def _chunks(text: str, heading: str) -> list[Section]:
    """Cut `text` into pieces of about CHUNK_CHARS, at a paragraph, line, sentence or word break."""
    pieces: list[str] = []
    rest = text
    while len(rest) > CHUNK_CHARS:
        cut = _break_before(rest, CHUNK_CHARS)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    pieces.append(rest)
    if len(pieces) == 1:
        return [Section(heading, pieces[0])]
    return [Section(f"{heading} ({n} of {len(pieces)})", p) for n, p in enumerate(pieces, 1)]


def _break_before(text: str, limit: int) -> int:
    for separator in ("\n\n", "\n", ". ", " "):
        at = text.rfind(separator, limit // 2, limit)
        if at > 0:
            return at + len(separator)
    return limit
