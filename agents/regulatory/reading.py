"""Reading an uploaded document inside the run: the regulatory agent's `prepare` step.

The upload request only stores the file (sealed) and starts the run; this activity parses it in
a child process (agents/regulatory/reader_process.py) with limits on pages, CPU seconds, memory
and wall-clock time, and kills it when it overruns. A file that cannot be read ends the review
with the reason, for the uploader ("Could not read this document. ..."); retrying would meet the
same file, so that failure is not retried. A worker that dies mid-read is retried as usual.
The child gets no secrets from the worker's environment, and a worker reads at most
DOCUMENT_READERS files at once (default: one per CPU), so a burst of uploads queues.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.types import PreparedCase
from agents.regulatory.documents import DocumentStore, split_sections
from agents.regulatory.extract import MAX_PAGES, DocumentRejected

UNREADABLE = "DocumentUnreadable"
# A longer document is better reviewed as several uploads than as one run of many hundred turns.
MAX_SECTIONS = 150
# Model turns per section at most: read, search, record, and one retry of a refused finding.
TURNS_PER_SECTION = 4
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One limit per event loop (a worker has one; tests start several).
_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class ReadLimits:
    seconds: float = 20.0
    pages: int = MAX_PAGES
    memory_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_env(cls) -> ReadLimits:
        """`DOCUMENT_READ_SECONDS` and `DOCUMENT_MAX_PAGES`, for the worker."""
        return cls(
            seconds=float(os.environ.get("DOCUMENT_READ_SECONDS") or cls.seconds),
            pages=int(os.environ.get("DOCUMENT_MAX_PAGES") or cls.pages),
        )


@activity.defn(name="regulatory.read_document")
async def read_document(case: dict[str, Any]) -> PreparedCase:
    """The case with the uploaded file replaced by its text's id and section count."""
    store = DocumentStore.from_env(activity.info().namespace)
    try:
        text = await read_text(store.upload(case["upload_id"]), case["filename"], ReadLimits.from_env())
        sections = len(split_sections(text))
        if sections > MAX_SECTIONS:
            raise DocumentRejected(f"The document has more than {MAX_SECTIONS} sections; upload it in parts.")
    except DocumentRejected as err:
        raise ApplicationError(
            f"Could not read this document. {err}", type=UNREADABLE, non_retryable=True
        ) from None
    document = store.put(text)
    prepared = {key: value for key, value in case.items() if key not in ("upload_id", "filename")}
    return PreparedCase(
        case={**prepared, "document_id": document.document_id, "sections": document.sections},
        max_turns=turns_for(document.sections),
    )


def turns_for(sections: int) -> int:
    return TURNS_PER_SECTION * sections + 2


async def read_text(data: bytes, filename: str, limits: ReadLimits) -> str:
    """The file's text, parsed in a child process within `limits`; DocumentRejected says why not."""
    async with _reader_slots():
        return await _read_in_child(data, filename, limits)


def _reader_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _readers:
        _readers[loop] = asyncio.Semaphore(int(os.environ.get("DOCUMENT_READERS") or os.cpu_count() or 1))
    return _readers[loop]


def _reader_environment() -> dict[str, str]:
    """Only what Python needs to start: the worker's keys and passwords stay in the worker."""
    return {"PATH": os.defpath, "PYTHONPATH": str(PROJECT_ROOT), "LC_ALL": "C.UTF-8", "PYTHONSAFEPATH": "1"}


async def _read_in_child(data: bytes, filename: str, limits: ReadLimits) -> str:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agents.regulatory.reader_process",
        filename,
        str(limits.pages),
        str(int(limits.seconds) + 1),
        str(limits.memory_bytes),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_reader_environment(),
        cwd=PROJECT_ROOT,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(data), timeout=limits.seconds)
    except TimeoutError:
        raise DocumentRejected(
            f"Reading it took longer than {limits.seconds:g} s, so it was stopped. The file may be "
            "damaged or built to be costly; upload a plain-text export instead."
        ) from None
    finally:
        if child.returncode is None:  # overran, or this activity was cancelled
            child.kill()
            await child.wait()
    if child.returncode != 0:
        raise DocumentRejected("Reading it needed more time or memory than allowed, so it was stopped.")
    answer = json.loads(out)
    if "rejected" in answer:
        raise DocumentRejected(answer["rejected"])
    text: str = answer["text"]
    return text
