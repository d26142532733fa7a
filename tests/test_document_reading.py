"""Uploaded documents are read by the run, in a limited child process, never by the web request;
what the store keeps is sealed.

The PDF bomb: a small file whose pages share one long content stream costs pypdf seconds of CPU
per page (10 s for 100 pages here, minutes for the file the issue found). The upload answers at
once; the run stops reading at its time limit and ends with a reason the uploader sees.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import pytest
from django.test import Client
from pypdf import PdfWriter

from agents.framework.codec import PayloadKeys
from agents.framework.contract import UNPROCESSABLE
from agents.framework.sealed_files import MAGIC
from agents.framework.workflow import AgentWorkflow
from agents.regulatory import upload_input
from agents.regulatory.documents import STORE_DIR_ENV, DocumentStore
from agents.regulatory.reader_process import READER_OPEN_FILES
from agents.regulatory.reading import ReadLimits, read_text
from tests.conftest import logged_in, make_user, record_history
from tests.test_regulatory import COMPLIANCE, text_pdf, upload

pytestmark = pytest.mark.once  # an agent on Temporal, not the portal's database: one CI pass

# How long the reader test waits to see the reader process, then for its limits to be set.
WATCH_SECONDS = 30
LEAFLET = "1. Complaints\nYou can complain to us by phone. We reply within 8 weeks.\n"


@pytest.fixture(autouse=True)
def document_store(tmp_path, monkeypatch) -> DocumentStore:
    """Each test gets its own store (read by the worker's activities in this process)."""
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path / "documents"))
    return DocumentStore.from_env("default")


def costly_pdf(pages: int, operations: int = 10_000) -> bytes:
    """`pages` pages that all show one content stream of `operations` text operations."""
    content = b"BT /F1 12 Tf 72 720 Td " + b"(Hello) Tj " * operations + b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (" ".join(f"{5 + i} 0 R" for i in range(pages)).encode(), pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        *[
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
        ]
        * pages,
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


def blank_pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def upload_and_finish(temporal, filename: str, data: bytes, *, uploader="alex"):
    """Upload as a compliance reviewer; the upload's response, the run's result, its handle and
    the uploader's client."""
    client = logged_in(make_user(uploader, *COMPLIANCE))
    response = upload(client, filename, data)
    assert response.status_code == 302, response.content.decode()[:500]
    handle = temporal.client.get_workflow_handle_for(
        AgentWorkflow.run, "regulatory-" + response.url.split("/")[2]
    )
    return response, temporal.run(handle.result(), timeout=60), handle, client


def test_a_pdf_bomb_is_stopped_at_the_time_limit_and_the_uploader_is_told_why(temporal, portal, monkeypatch):
    monkeypatch.setenv("DOCUMENT_READ_SECONDS", "2")  # the worker's limit (20 s by default)
    bomb = costly_pdf(pages=100)  # about 10 s of pypdf's CPU, in a 126 KB file

    response, result, handle, uploader = upload_and_finish(temporal, "leaflet.pdf", bomb)

    assert len(bomb) < 200_000
    assert result.outcome == UNPROCESSABLE and result.gates == []
    assert result.action["reason"].startswith("Could not read this document. Reading it took longer than 2 s")
    page = uploader.get(response.url).content.decode()
    assert "Could not read this document." in page and "Reading it took longer than 2 s" in page
    assert 'hx-trigger="every' not in page  # final: the page stops asking (the bell waits for pushes)
    record_history(temporal, handle, "regulatory_upload_unreadable")


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("long.pdf", blank_pdf(pages=4), "This PDF has more than 3 pages; upload it in parts."),
        ("scan.pdf", blank_pdf(), "This PDF has no extractable text (it may be a scanned image)."),
        ("broken.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 100, "This PDF could not be read"),
    ],
    ids=["too-many-pages", "image-only", "damaged"],
)
def test_a_pdf_the_run_cannot_read_ends_the_review_with_the_reason(
    temporal, portal, monkeypatch, filename, data, reason
):
    monkeypatch.setenv("DOCUMENT_MAX_PAGES", "3")

    response, result, _, uploader = upload_and_finish(temporal, filename, data)

    assert result.outcome == UNPROCESSABLE and reason in result.action["reason"]
    assert reason in uploader.get(response.url).content.decode()


def test_a_readable_pdf_is_read_by_the_run_and_the_uploader_follows_the_review(temporal, portal):
    pdf = text_pdf("1. Complaints", "You can complain to us by phone. We reply within 8 weeks.")

    response, result, handle, uploader = upload_and_finish(temporal, "leaflet.pdf", pdf)

    assert result.outcome == "completed" and result.action["sections"] == 1
    assert [(f["rule"], f["status"]) for f in result.action["findings"]] == [("CH-02", "recorded")]
    page = uploader.get(response.url).content.decode()
    assert "Review finished." in page and "Recorded" in page
    assert "leaflet.pdf" in uploader.get("/documents/new/").content.decode()  # under "Your recent uploads"
    record_history(temporal, handle, "regulatory_upload_read")


def test_the_status_page_is_for_the_uploader_compliance_and_auditors_only(temporal, portal):
    response, _, _, _ = upload_and_finish(temporal, "leaflet.txt", LEAFLET.encode())

    assert logged_in(make_user("auditor", "auditor")).get(response.url).status_code == 200
    assert logged_in(make_user("sam", *COMPLIANCE)).get(response.url).status_code == 200
    assert logged_in(make_user("officer", "credit_officer")).get(response.url).status_code == 403
    assert Client().get(response.url).url.startswith("/accounts/login/")
    unknown = "/documents/00000000-0000-0000-0000-000000000000/"
    assert logged_in(make_user("auditor2", "auditor")).get(unknown).status_code == 404


def test_uploads_and_their_sections_are_sealed_at_rest(temporal, portal, document_store, payload_keys):
    phrase = "complain to us by phone"
    _, result, _, _ = upload_and_finish(temporal, "leaflet.txt", LEAFLET.encode())

    files = [p for p in document_store.root.rglob("*") if p.is_file()]
    findings = [p for p in files if p.parent.name == "findings"]
    # The upload as it came and its sections, and each finding the review recorded, by its hash.
    assert len(files) - len(findings) == 2 and len(findings) == len(result.action["findings"])
    assert all(p.read_bytes().startswith(MAGIC) and phrase.encode() not in p.read_bytes() for p in files)
    assert phrase in document_store.sections(result.action["document_id"])[0].text
    # Bound to its name and its namespace: a file copied under another id, or read with another
    # namespace's keys, does not open.
    sections_file = document_store.directory / f"{result.action['document_id']}.json"
    moved = document_store.directory / f"{'0' * 64}.json"
    moved.write_bytes(sections_file.read_bytes())
    with pytest.raises(ValueError, match="does not decrypt"):
        document_store.sections("0" * 64)
    # The default namespace's own key, presented as another namespace's, on the same files:
    other = DocumentStore(document_store.root, PayloadKeys.from_json(payload_keys).of("default"), "loans")
    other.directory = document_store.directory
    with pytest.raises(ValueError, match="does not decrypt"):
        other.sections(result.action["document_id"])


def test_a_file_sealed_with_lost_keys_is_replaced_when_the_same_content_is_stored_again(document_store):
    upload_id = document_store.put_upload(b"1. Scope\nText.")
    path = document_store.directory / "uploads" / upload_id
    path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 1]))  # no longer opens

    assert document_store.put_upload(b"1. Scope\nText.") == upload_id
    assert document_store.upload(upload_id) == b"1. Scope\nText."


def test_the_reader_process_gets_no_secrets_and_few_resources(monkeypatch):
    """The parser runs on files anyone with an upload form sends: its child process sees none of
    the worker's environment (API keys, payload keys, the database password), may not open many
    files, and its own limits are set before it reads a byte.

    The child is watched while it reads a file that costs it tens of seconds of CPU, within a
    wall-clock limit of two minutes, so that a loaded machine cannot end it before it was seen; the
    reading is then cancelled, as when its activity is, which kills the child. (A file stopped at
    its time limit: test_a_pdf_bomb_is_stopped_at_the_time_limit_and_the_uploader_is_told_why.)"""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-the-reader-must-not-see")
    monkeypatch.setenv("PAYLOAD_KEYS", '{"default": "not-for-the-reader"}')
    seen: dict[str, str] = {}

    async def read_while_watching() -> None:
        bomb = costly_pdf(pages=300)  # the most pages read: the child reads until cancelled
        reading = asyncio.create_task(read_text(bomb, "bomb.pdf", ReadLimits(seconds=2 * WATCH_SECONDS + 60)))
        deadline = time.monotonic() + WATCH_SECONDS
        while (pid := _reader_pid()) is None:
            assert not reading.done(), "the reading ended before its process was seen"
            assert time.monotonic() < deadline, "the reader process was never seen"
            await asyncio.sleep(0.01)
        seen["environ"] = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        # Its limits are set once its imports are done (slow on a loaded machine or a cold bytecode
        # cache): read them until they are.
        deadline = time.monotonic() + WATCH_SECONDS
        while _open_files_limit(seen.get("limits", "")) != str(READER_OPEN_FILES):
            assert not reading.done(), "the reading ended before its limits were read"
            if time.monotonic() > deadline:
                break  # the assertion below says what was read last
            seen["limits"] = Path(f"/proc/{pid}/limits").read_text()
            await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(read_while_watching())

    assert "sk-secret" not in seen["environ"] and "not-for-the-reader" not in seen["environ"]
    assert "PAYLOAD_KEYS" not in seen["environ"] and "DATABASE_URL" not in seen["environ"]
    assert _open_files_limit(seen.get("limits", "")) == str(READER_OPEN_FILES), seen.get("limits")
    assert _reader_pid() is None  # the cancelled reading killed its process, and reaped it


def _open_files_limit(limits: str) -> str | None:
    """The soft "Max open files" of a /proc/<pid>/limits text."""
    line = next((line for line in limits.splitlines() if line.startswith("Max open files")), None)
    return line.split()[3] if line else None


def _reader_pid() -> int | None:
    """This test's reader process: a child of this process (CI runs two suites side by side, and
    the other one's reader may be starting, its limits not yet set)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                is_reader = b"agents.regulatory.reader_process" in (entry / "cmdline").read_bytes()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if is_reader and parent == os.getpid():
                return int(entry.name)
    return None


def test_a_failure_inside_the_reading_step_tells_the_uploader_nothing_internal(temporal, portal, tmp_path):
    """A bug or a lost file in the prepare step (here: the sealed upload is gone) is retried,
    then ends the review with plain words; its path and exception stay in the run's history for
    operators, out of the result the uploader's page shows."""
    agent_input = upload_input(
        upload_id="0" * 64, filename="missing.pdf", title="Lost upload", uploaded_by="alex"
    )
    result = temporal.run(
        temporal.client.execute_workflow(
            AgentWorkflow.run, agent_input, id=f"regulatory-lost-{tmp_path.name}", task_queue=portal
        ),
        timeout=60,
    )

    reason = result.action["reason"]
    assert result.outcome == UNPROCESSABLE and result.gates == []
    assert "internal error" in reason
    assert "/" not in reason and "Error" not in reason and "No such file" not in reason
