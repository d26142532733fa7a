"""The text of an uploaded document: plain text (.txt, .md) as UTF-8, PDFs through pypdf.

The file's content must match its extension; anything else is refused with a reason the
uploader can act on.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PyPdfError

TEXT_EXTENSIONS = {".txt", ".md"}
PDF_EXTENSIONS = {".pdf"}
ALLOWED_EXTENSIONS = TEXT_EXTENSIONS | PDF_EXTENSIONS


class DocumentRejected(ValueError):
    """The upload cannot be reviewed; the message says why, for the uploader."""


def extract_text(data: bytes, filename: str) -> str:
    extension = PurePath(filename).suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise DocumentRejected("Upload a plain-text (.txt, .md) or PDF (.pdf) file.")
    text = _pdf_text(data) if extension in PDF_EXTENSIONS else _plain_text(data)
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise DocumentRejected("The document is empty: there is no text to review.")
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


def _pdf_text(data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        raise DocumentRejected("This file is not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        pages = [] if encrypted else [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as err:
        raise DocumentRejected(f"This PDF could not be read ({err}).") from err
    if encrypted:
        raise DocumentRejected("This PDF is password-protected; upload an unprotected copy.")
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise DocumentRejected(
            "This PDF has no extractable text (it may be a scanned image). "
            "Upload a text-based PDF or a .txt export of the document."
        )
    return text
