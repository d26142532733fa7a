"""The inbox's search index (reviewer_portal.search): the same results as a scan, for any query,
on SQLite (FTS5 trigram) and on PostgreSQL (pg_trgm); kept in step with every write; used.

Run on both backends: plain, and with DATABASE_URL=postgres://...
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from agents.framework.types import GateSnapshot, Recommendation
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.presentation import search_fields
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.selectors import GateFilters, gate_list_for
from reviewer_portal.search import selectors as search_selectors
from reviewer_portal.search.schema import search_index_ensure
from reviewer_portal.search.selectors import search_candidates
from tests import actions
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
_numbers = itertools.count(1)

# Subjects and case values that make matching hard: case, accents, CJK, quotes, LIKE wildcards,
# FTS5 query syntax, JSON scalars, nested values, other agents' searchable fields.
CORPUS: list[tuple[str, dict[str, Any]]] = [
    ("Émile Zoë Ångström: 12,000 over 24 months", {"applicant_name": "Émile Zoë Ångström"}),
    ("émile zoë: a lower-case twin", {"applicant_name": "émile ångström"}),
    ("東京支店の融資 日本語", {"applicant_name": "山田 太郎"}),
    ('Quote "Q" and O\'Brien', {"applicant_name": 'Seán "Q" O\'Brien'}),
    ("100% sure_thing", {"applicant_name": "Percy 50%_off"}),
    ("AND OR NOT NEAR(x y) * ^col: {a b}", {"applicant_name": "NEAR AND"}),
    ("Amira Haddad: 18,000 over 48 months", {"applicant_name": "Amira Haddad", "purpose": "renovation"}),
    ("Loan 17", {"applicant_name": "Bilal Okafor", "borrower": "Haddad Holdings"}),
    ("Card dispute", {"merchant": "Café Zürich", "transaction_id": "TX-00042"}),
    ("Team flags", {"team": True, "topic": None, "title": False, "customer_id": 9001}),
    ("Nested", {"product": {"name": "ISA", "tags": ["cash", "fixed"]}, "applicant_name": "Kofi Berg"}),
    ("Not searchable", {"applicant_name": "Ines Silva", "notes": "haddad in an undeclared field"}),
    ("Case is a list", {"applicant_name": "x"}),  # overwritten below: a case that is not an object
]
QUERIES = [
    "", "a", "É", "é", "ém", "émile", "ÉMILE", "Émile", "zoë", "ZOË", "ångström", "ÅNGSTRÖM",
    "日", "日本", "日本語", "東京支店", "山田 太", "\"", '"Q"', '""', "o'brien", "'", "%", "100%", "0%_",
    "_", "sure_t", "e_t", "AND", "and or", "NEAR(", "NEAR(x y)", "*", "^col", "col:", "{a b}", "-",
    "haddad", "HADDAD", "had", "ha", "amira haddad", "renovation", "true", "false", "null", "9001",
    "900", "TX-000", "zürich", "CAFÉ", "\"name\"", "ISA", "cash", "\"fixed\"]", "x" * 300, "   ",
    "an undeclared", "12,000", ": ", "Ω",
]  # fmt: skip


def make_gate(subject: str, case: Any, **fields: Any) -> Gate:
    n = next(_numbers)
    now = timezone.now()
    values: dict[str, Any] = {
        "gate_id": f"loan-search-{n:04d}--g1",
        "workflow_id": f"loan-search-{n:04d}",
        "agent": "loans",
        "kind": "loan_decision",
        "subject": subject,
        "case": case,
        "submitted_by": "intake",
        "recommendation": "approve",
        "rationale": "",
        "model": "offline",
        "role": "credit_officer",
        "sla_seconds": 3600,
        "opened_at": now - timedelta(minutes=n),
        "deadline": now + timedelta(minutes=n),
        "version": 1,
        **fields,
    }
    return Gate.objects.create(**values)


def scanned(text: str) -> Q:
    """Search as it was before the index: the subject and each declared field, icontains."""
    condition = Q(subject__icontains=text)
    for name in search_fields():
        condition |= Q(**{f"case__{name}__icontains": text})
    return condition


@pytest.fixture
def officer():
    return make_user("officer", "credit_officer")


@pytest.fixture
def corpus() -> list[Gate]:
    gates = [make_gate(subject, case) for subject, case in CORPUS]
    gates[-1].case = ["haddad", {"applicant_name": "haddad"}]
    gates[-1].save()
    # Decided twins: search only narrows the pending list.
    for subject, case in CORPUS[:8]:
        make_gate(subject, case, status=Gate.Status.APPROVED)
    # Another role's gate: never listed.
    make_gate("Amira Haddad for compliance", {"applicant_name": "Amira Haddad"}, role="compliance_reviewer")
    return gates


def searched(officer, text: str) -> list[str]:
    return list(gate_list_for(user=officer, filters=GateFilters(q=text)).values_list("gate_id", flat=True))


def expected(officer, text: str) -> list[str]:
    return list(gate_list_for(user=officer).filter(scanned(text)).values_list("gate_id", flat=True))


@pytest.mark.parametrize("text", QUERIES)
def test_search_lists_what_a_scan_of_the_declared_fields_lists(officer, corpus, text):
    assert searched(officer, text) == expected(officer, text)
    # A page (ordered and sliced) is planned apart from a count (reviewer_portal.search.selectors).
    page = gate_list_for(user=officer, filters=GateFilters(q=text, sort="-age"))[:3]
    scan = gate_list_for(user=officer, filters=GateFilters(sort="-age")).filter(scanned(text))[:3]
    assert [g.gate_id for g in page] == [g.gate_id for g in scan]


def test_the_scan_it_is_compared_with_finds_what_it_should(officer, corpus):
    # So the comparison above cannot pass on two empty lists.
    by_id = {gate.gate_id: gate.subject for gate in corpus}

    def subjects(text: str) -> set[str]:
        return {by_id[gate_id] for gate_id in searched(officer, text)}

    assert subjects("haddad") == {"Amira Haddad: 18,000 over 48 months", "Loan 17"}
    assert subjects("日本語") == {"東京支店の融資 日本語"}
    assert subjects('"Q"') == {'Quote "Q" and O\'Brien'}
    assert subjects("100%") == {"100% sure_thing"}
    assert subjects("NEAR(x y)") == {"AND OR NOT NEAR(x y) * ^col: {a b}"}
    assert subjects("true") == {"Team flags"}
    assert subjects("émile") >= {"émile zoë: a lower-case twin"}
    assert len(searched(officer, "")) == len(corpus)


def test_the_index_narrows_to_pending_gates_that_may_match(officer, corpus):
    pending = Gate.objects.filter(status=Gate.Status.PENDING)
    with_text = {g.gate_id for g in pending if "haddad" in (g.subject + str(g.case)).lower()}
    candidates = set(Gate.objects.filter(search_candidates("Haddad")).values_list("gate_id", flat=True))
    # Every match is a candidate, and only pending gates with the text somewhere are (an
    # undeclared field may make one: the selector's own conditions drop it).
    assert set(searched(officer, "Haddad")) <= candidates <= with_text
    assert "Not searchable" in {g.subject for g in corpus if g.gate_id in candidates}
    assert search_candidates("ha") == Q()  # too short to narrow


def test_search_uses_the_index(officer, corpus):
    now = timezone.now()
    Gate.objects.bulk_create(
        Gate(
            gate_id=f"loan-many-{n}--g1", workflow_id=f"loan-many-{n}", agent="loans", kind="loan_decision",
            subject=f"Applicant {n}", case={"applicant_name": f"Applicant {n}"}, submitted_by="intake",
            recommendation="approve", rationale="", model="offline", role="credit_officer",
            sla_seconds=3600, opened_at=now, deadline=now + timedelta(hours=1), version=1,
        )
        for n in range(3000)
    )  # fmt: skip
    query = gate_list_for(user=officer, filters=GateFilters(q="haddad"))
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as a database in use has statistics
        cursor.execute(f"EXPLAIN {'QUERY PLAN ' if connection.vendor == 'sqlite' else ''}{sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    index = (
        "search_entry_fts VIRTUAL TABLE INDEX"
        if connection.vendor == "sqlite"
        else "search_gate_pending_trgm"
    )
    assert index in plan, plan
    assert len(searched(officer, "haddad")) == 2


def test_the_entry_follows_subject_and_case_changes_and_leaves_when_decided(officer):
    gate = make_gate("Plain subject", {"applicant_name": "Jonas Novak"})
    assert searched(officer, "novak") == [gate.gate_id]

    Gate.objects.filter(pk=gate.pk).update(subject="Renamed for Tanaka")
    assert searched(officer, "tanaka") == [gate.gate_id]
    assert searched(officer, "plain subj") == []

    gate.refresh_from_db()
    gate.case = {"applicant_name": "Grace Yilmaz"}
    gate.save()
    assert searched(officer, "yilmaz") == [gate.gate_id]
    assert searched(officer, "novak") == []

    Gate.objects.filter(pk=gate.pk).update(status=Gate.Status.APPROVED)
    assert searched(officer, "yilmaz") == []
    assert not Gate.objects.filter(search_candidates("yilmaz")).exists()

    Gate.objects.filter(pk=gate.pk).update(status=Gate.Status.PENDING)  # reopened (changes requested)
    assert searched(officer, "yilmaz") == [gate.gate_id]

    Gate.objects.filter(pk=gate.pk).delete()
    assert not Gate.objects.filter(search_candidates("yilmaz")).exists()


def test_the_projections_writes_keep_the_entry_in_step(officer):
    now = timezone.now()
    first = GateSnapshot(
        gate_id="loan-proj--g1", workflow_id="loan-proj", agent="loans", kind="loan_decision",
        subject="Femi Adeyemi: 9,000", case={"applicant_name": "Femi Adeyemi"}, submitted_by="intake",
        recommendation=Recommendation("approve", "fine"), tool_results=[], model="m", offline_model=True,
        role="credit_officer", sla_seconds=3600, opened_at=now, deadline=now + timedelta(hours=1),
        submitted_by_id=actions.person_id("intake"), version=1,
    )  # fmt: skip
    assert gate_apply_snapshot(snapshot=first)
    assert searched(officer, "adeyemi") == ["loan-proj--g1"]

    renamed = dataclasses.replace(
        first, version=2, subject="Femi Okafor: 9,000", case={"applicant_name": "Femi Okafor"}
    )
    assert gate_apply_snapshot(snapshot=renamed)
    assert searched(officer, "okafor") == ["loan-proj--g1"]
    assert searched(officer, "adeyemi") == []

    assert gate_apply_snapshot(snapshot=dataclasses.replace(renamed, version=3, status="approved"))
    assert searched(officer, "okafor") == []
    assert not Gate.objects.filter(search_candidates("okafor")).exists()


def test_bulk_written_gates_are_indexed(officer):
    now = timezone.now()
    Gate.objects.bulk_create(
        Gate(
            gate_id=f"loan-bulk-{n}--g1", workflow_id=f"loan-bulk-{n}", agent="loans", kind="loan_decision",
            subject=f"Bulk {n}", case={"applicant_name": f"Hiro Murphy {n}"}, submitted_by="intake",
            recommendation="approve", rationale="", model="offline", role="credit_officer",
            sla_seconds=3600, opened_at=now, deadline=now + timedelta(hours=1), version=1,
        )
        for n in range(30)
    )  # fmt: skip
    assert len(searched(officer, "hiro murphy")) == 30
    assert searched(officer, "murphy 29") == ["loan-bulk-29--g1"]


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_migration_that_rebuilds_the_gate_table_loses_no_index(officer):
    # Django rebuilds a SQLite table (copy, drop, rename) to alter it, dropping its triggers.
    make_gate("Before the rebuild", {"applicant_name": "Chloe Berg"})
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER search_gate_inserted")
        cursor.execute("DROP TRIGGER search_gate_updated")
        cursor.execute("DELETE FROM search_entry")
    search_index_ensure(using="default")

    gate = make_gate("After the rebuild", {"applicant_name": "Elif Rossi"})
    assert len(searched(officer, "berg")) == 1
    assert searched(officer, "elif") == [gate.gate_id]


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_an_sqlite_without_the_trigram_tokenizer_searches_by_scanning(officer, corpus, monkeypatch):
    monkeypatch.setattr(search_selectors, "sqlite_has_trigram", lambda: False)
    assert search_candidates("haddad") == Q()
    assert searched(officer, "haddad") == expected(officer, "haddad") != []
