"""The audit index lists runs that opened no gate too (reviewer_portal/audit/run_index.py): the
AI's outcome alone (a transaction scored legitimate, a conversation the assistant answered) is an
outcome an auditor must be able to find. From the portal's record of the submission, or the
archive's record of the close for runs the portal did not submit; filtered like the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.history.models import Submission
from tests.conftest import logged_in, make_user
from tests.test_ai_act import MONDAY, loan_gate


@pytest.fixture
def runs(db):
    """A decided loan run, a fraud run the portal submitted that opened no gate (archived since),
    and a support conversation only the archive knows."""
    submitter = make_user("intake", "credit_officer")
    loan_gate(
        "ana",
        recommendation="approve",
        opened=MONDAY,
        status="approved",
        decided_after=timedelta(minutes=5),
        reason="Fine.",
    )
    fraud = Submission.objects.create(
        workflow_id="fraud-tx-771",
        agent="fraud",
        subject="Card payment 71.20 EUR at Bäckerei Müller",
        submitted_by=submitter,
        submitted_at=MONDAY + timedelta(days=1),
    )
    archive(fraud.workflow_id, "fraud", fraud.subject, seq=1, closed=MONDAY + timedelta(days=1, minutes=1))
    archive(
        "conversation-c9", "support", "Conversation with CUST-2001", seq=2, closed=MONDAY + timedelta(days=2)
    )
    return logged_in(make_user("audrey", "auditor"))


def archive(workflow_id: str, agent: str, subject: str, *, seq: int, closed: datetime) -> ArchiveRecord:
    return ArchiveRecord.objects.create(
        namespace="default",
        seq=seq,
        kind=ArchiveRecord.Kind.RUN,
        workflow_id=workflow_id,
        agent=agent,
        subject=subject,
        status="completed",
        closed_at=closed,
        archived_at=datetime.now(UTC),
        prev_hash="0" * 64,
        record_hash=f"{seq}" * 64,
        content_sha256="c" * 64,
    )


def rows(auditor, **query) -> list[str]:
    page = auditor.get("/audit/", query).content.decode()
    return [name for name in ("Loan ana", "Bäckerei Müller", "CUST-2001") if name in page]


def test_runs_without_a_gate_are_listed_newest_first_with_how_they_ended(runs):
    page = runs.get("/audit/").content.decode()

    assert rows(runs) == ["Loan ana", "Bäckerei Müller", "CUST-2001"]
    assert page.index("CUST-2001") < page.index("Bäckerei") < page.index("Loan ana")  # newest first
    assert page.count("No gate opened: the AI&#x27;s outcome alone (run completed)") == 2
    assert "3 runs" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "nogate"}, ["Bäckerei Müller", "CUST-2001"]),
        ({"outcome": "approved"}, ["Loan ana"]),
        ({"agent": "fraud"}, ["Bäckerei Müller"]),
        ({"q": "müller"}, ["Bäckerei Müller"]),
        ({"q": "conversation-c9"}, ["CUST-2001"]),
        ({"archived": "no"}, ["Loan ana"]),
        ({"archived": "yes", "outcome": "nogate"}, ["Bäckerei Müller", "CUST-2001"]),
        (
            {"outcome": "nonsense"},
            ["Loan ana", "Bäckerei Müller", "CUST-2001"],
        ),  # an invalid filter is ignored
    ],
)
def test_the_filters_apply_to_runs_without_a_gate(runs, query, expected):
    assert rows(runs, **query) == expected
