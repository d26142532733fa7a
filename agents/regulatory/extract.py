"""The text of an uploaded document: plain text (.txt, .md) as UTF-8, PDFs through pypdf.

The file's content must match its extension; anything else is refused with a reason the
uploader can act on. `check_upload` is the cheap part the upload request runs; `extract_text`
parses, and runs in a separate, limited process (agents/regulatory/reading.py), never in a web
request: a small PDF can cost minutes of CPU.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PyPdfError

TEXT_EXTENSIONS = {".txt", ".md"}
PDF_EXTENSIONS = {".pdf"}
ALLOWED_EXTENSIONS = TEXT_EXTENSIONS | PDF_EXTENSIONS
MAX_PAGES = 300
MAX_TEXT_CHARS = 2_000_000


class DocumentRejected(ValueError):
    """The upload cannot be reviewed; the message says why, for the uploader."""


def check_upload(data: bytes, filename: str) -> None:
    """Refuse at once what is plainly not reviewable: the wrong type, or text that is not text.
    Cheap (no parsing of PDFs): the upload request runs it."""
    extension = _extension(filename)
    if extension in PDF_EXTENSIONS:
        if not data.startswith(b"%PDF-"):
            raise DocumentRejected("This file is not a PDF.")
        return
    _document_text(_plain_text(data))


def extract_text(data: bytes, filename: str, *, max_pages: int = MAX_PAGES) -> str:
    extension = _extension(filename)
    text = _pdf_text(data, max_pages) if extension in PDF_EXTENSIONS else _plain_text(data)
    return _document_text(text)


def _extension(filename: str) -> str:
    extension = PurePath(filename).suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise DocumentRejected("Upload a plain-text (.txt, .md) or PDF (.pdf) file.")
    return extension


def _document_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise DocumentRejected("The document is empty: there is no text to review.")
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentRejected(
            f"The document has more than {MAX_TEXT_CHARS:,} characters; upload it in parts."
        )
    return text


def _plain_text(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        raise DocumentRejected("This file is a PDF; upload it with a .pdf name.")
    if b"\x00" in data:
        raise DocumentRejected("This file is not plain text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DocumentRejected(
            "This text file is not UTF-8 encoded; save it as UTF-8 and upload again."
        ) from err


def _pdf_text(data: bytes, max_pages: int) -> str:
    if not data.startswith(b"%PDF-"):
        raise DocumentRejected("This file is not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected("This PDF is password-protected; upload an unprotected copy.")
        if len(reader.pages) > max_pages:
            raise DocumentRejected(f"This PDF has more than {max_pages} pages; upload it in parts.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as err:
        raise DocumentRejected(f"This PDF could not be read ({err}).") from err
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise DocumentRejected(
            "This PDF has no extractable text (it may be a scanned image). "
            "Upload a text-based PDF or a .txt export of the document."
        )
    return text
