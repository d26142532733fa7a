"""In-app notifications (issue 11): the bell's count and the list, always one user's own; marking
read; the events that make them (assignment, decision on a submission, escalation, SLA warning,
high priority), each once however often it is delivered, and by e-mail too."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.utils import timezone

from agents.framework.types import GateSnapshot, Notice
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.notifications import notify_reviewers
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.notices.gate_events import notices_for_gate_change
from reviewer_portal.notices.models import Notification
from reviewer_portal.notices.selectors import notifications_for, unread_count_for
from reviewer_portal.notices.services import (
    MAX_IDS,
    RETENTION,
    NoticeEvent,
    notification_create_for_role,
    notification_create_for_user,
    notifications_mark_read,
)
from tests import test_live
from tests.conftest import decide, loan_input, logged_in, make_user, projected_gate, start_loan
from tests.test_gate_rules import gate
from tests.test_live import WAIT, communicator_for

HTMX = {"HX-Request": "true"}
# The database channel layer, then channels-redis (as tests/test_live.py runs its pushes).
layer_config = test_live.layer_config


def event(key: str = "sla_warning:g1:v1:credit_officer", subject: str = "Amira Haddad") -> NoticeEvent:
    return NoticeEvent(
        kind="sla_warning", gate_id="loan-x--g1", subject=subject, text=f"SLA soon: {subject}.", event_key=key
    )


def snapshot(**fields) -> GateSnapshot:
    return gate(**{"subject": "Amira Haddad", **fields})


def wait_for(probe, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.1)
    raise AssertionError("never happened")


class BrokenMail(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("no mail server")


# --- services and selectors ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_role_notice_reaches_each_active_holder_once_however_often_it_is_delivered():
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    gone = make_user("gone", "credit_officer")
    gone.is_active = False
    gone.save()
    adviser = make_user("adviser", "licensed_adviser")

    notification_create_for_role(role="credit_officer", event=event())
    notification_create_for_role(role="credit_officer", event=event())  # an activity retried

    assert sorted(Notification.objects.values_list("recipient__username", flat=True)) == [
        "colleague",
        "officer",
    ]
    assert [unread_count_for(user=u) for u in (officer, colleague, gone, adviser)] == [1, 1, 0, 0]
    notice = Notification.objects.get(recipient=officer)
    assert notice.link == "/gates/loan-x--g1/" and notice.read_at is None


@pytest.mark.django_db
def test_marking_read_changes_only_the_users_own_notices():
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    notification_create_for_role(role="credit_officer", event=event("a"))
    notification_create_for_role(role="credit_officer", event=event("b"))
    theirs = list(Notification.objects.filter(recipient=colleague).values_list("pk", flat=True))
    mine = Notification.objects.filter(recipient=officer).order_by("pk").first()

    assert notifications_mark_read(user=officer, ids=theirs) == 0
    assert notifications_mark_read(user=officer, ids=[mine.pk]) == 1
    assert [unread_count_for(user=officer), unread_count_for(user=colleague)] == [1, 2]
    assert notifications_mark_read(user=officer, all=True) == 1
    assert [unread_count_for(user=officer), unread_count_for(user=colleague)] == [0, 2]
    with pytest.raises(ValueError):
        notifications_mark_read(user=colleague, ids=list(range(MAX_IDS + 1)))
    assert unread_count_for(user=colleague) == 2


@pytest.mark.django_db
def test_read_notices_past_the_retention_go_when_the_user_marks_read_and_unread_ones_stay():
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    for key in ("old-read", "old-unread", "new"):
        notification_create_for_role(role="credit_officer", event=event(key))
    old = timezone.now() - RETENTION - timedelta(days=1)
    Notification.objects.filter(event_key__startswith="old").update(created_at=old)
    Notification.objects.filter(event_key="old-read").update(read_at=old)

    notifications_mark_read(user=officer, all=False, ids=[])

    assert sorted(Notification.objects.filter(recipient=officer).values_list("event_key", flat=True)) == [
        "new",
        "old-unread",
    ]
    assert Notification.objects.filter(recipient=colleague).count() == 3  # theirs is theirs to tidy


@pytest.mark.django_db
def test_the_list_is_the_users_own_newest_first():
    officer = make_user("officer", "credit_officer")
    make_user("adviser", "licensed_adviser")
    notification_create_for_role(role="credit_officer", event=event("old", "Older case"))
    notification_create_for_role(role="credit_officer", event=event("new", "Newer case"))
    notification_create_for_role(role="licensed_adviser", event=event("adv", "Adviser's case"))

    page = notifications_for(user=officer)

    assert [n.subject for n in page.object_list] == ["Newer case", "Older case"]


def test_a_push_reaches_only_the_recipients_own_socket_and_carries_nothing(layer_config):
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")  # the same role: role groups would leak
    event_for_colleague = event("only-colleague")
    mine, theirs = communicator_for(officer), communicator_for(colleague)

    async def scenario():
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        try:
            await sync_to_async(notification_create_for_user)(user=colleague, event=event_for_colleague)
            assert await theirs.receive_json_from(timeout=WAIT) == {"notices": "changed"}
            assert await mine.receive_nothing(timeout=0.5)
        finally:
            await mine.disconnect()
            await theirs.disconnect()

    async_to_sync(scenario)()


# --- views ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_and_bell_show_only_the_users_own_notices_escaped():
    make_user("officer", "credit_officer")
    adviser = make_user("adviser", "licensed_adviser")
    notification_create_for_role(role="credit_officer", event=event("o", "Officer's <b>case</b>"))
    notification_create_for_role(role="licensed_adviser", event=event("a", "Adviser-only case"))
    client = logged_in(adviser)

    page = client.get("/notifications/").content.decode()
    inbox = client.get("/").content.decode()
    count = client.get("/notifications/count/").content.decode()

    assert "Adviser-only case" in page and "Officer" not in page
    assert 'id="notice-count"' in inbox and 'aria-live="polite"' in inbox
    assert '<span class="notice-count" aria-hidden="true">1</span>' in inbox
    assert '<span class="sr-only">1 unread</span>' in count
    officer_page = logged_in(adviser.__class__.objects.get(username="officer")).get("/notifications/")
    assert "Officer&#x27;s &lt;b&gt;case&lt;/b&gt;" in officer_page.content.decode()


@pytest.mark.django_db
def test_a_long_backlog_shows_99_plus_and_says_the_exact_count():
    officer = make_user("officer", "credit_officer")
    for n in range(120):
        notification_create_for_role(role="credit_officer", event=event(f"k{n}"))

    count = logged_in(officer).get("/notifications/count/").content.decode()

    assert ">99+</span>" in count and '<span class="sr-only">120 unread</span>' in count


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in():
    for url in ("/notifications/", "/notifications/count/"):
        assert Client().get(url)["Location"].startswith("/accounts/login/")
    assert Client().post("/notifications/read/", {"all": "1"}).status_code == 302


@pytest.mark.django_db
def test_marking_read_through_the_page_leaves_another_users_notice_unread():
    officer = make_user("officer", "credit_officer")
    adviser = make_user("adviser", "licensed_adviser")
    notification_create_for_role(role="credit_officer", event=event("o"))
    notification_create_for_role(role="licensed_adviser", event=event("a"))
    theirs = Notification.objects.get(recipient=adviser)
    mine = Notification.objects.get(recipient=officer)
    client = logged_in(officer)

    refused = client.post("/notifications/read/", {"id": [str(theirs.pk)]}, headers=HTMX)
    marked = client.post("/notifications/read/", {"id": [str(mine.pk)]}, headers=HTMX)

    assert refused.status_code == 200 and "HX-Trigger" not in refused
    assert marked.status_code == 200 and "notices-changed" in marked["HX-Trigger"]
    assert 'id="notice-list"' in marked.content.decode() and "<html" not in marked.content.decode()
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.read_at is None and mine.read_at is not None
    assert client.post("/notifications/read/", {"all": "1"})["Location"] == "/notifications/"
    assert unread_count_for(user=adviser) == 1


@pytest.mark.django_db
def test_a_mark_read_without_the_csrf_token_is_refused():
    officer = make_user("officer", "credit_officer")
    notification_create_for_role(role="credit_officer", event=event())
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)

    response = client.post("/notifications/read/", {"all": "1"})

    assert response.status_code == 403 and unread_count_for(user=officer) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ids",
    [
        [str(n) for n in range(1, MAX_IDS + 2)],  # too many
        ["1" * 40],  # beyond any id
        ["٣"],  # an Arabic-Indic digit: isdigit() but no id
        ["1; DROP TABLE"],
        ["-1"],
    ],
)
def test_odd_or_oversize_ids_are_refused_with_nothing_changed(ids):
    officer = make_user("officer", "credit_officer")
    notification_create_for_role(role="credit_officer", event=event())
    response = logged_in(officer).post("/notifications/read/", {"id": ids, "all": "1"}, headers=HTMX)

    assert response.status_code == 400
    assert "Name at most 100 notifications" in response.content.decode()
    assert unread_count_for(user=officer) == 1


# --- events from the projection ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_assignment_and_a_decision_are_told_once_even_when_applied_twice(settings):
    colleague = make_user("colleague", "credit_officer")
    colleague.email = "colleague@bank.example"
    colleague.save()
    make_user("intake", "credit_officer")
    pending = snapshot(version=1)
    assigned = snapshot(version=2, assignee="colleague", assignee_id=str(colleague.pk))
    approved = dataclasses.replace(assigned, version=3, status="approved", decided_by="colleague")

    assert gate_apply_snapshot(snapshot=pending)
    assert gate_apply_snapshot(snapshot=assigned)
    assert not gate_apply_snapshot(snapshot=assigned)  # the same version again: no change
    notices_for_gate_change(before={"status": "pending", "assignee_id": ""}, after=assigned)  # forced
    assert gate_apply_snapshot(snapshot=approved)
    notices_for_gate_change(before={"status": "pending", "assignee_id": ""}, after=approved)

    told = list(
        Notification.objects.order_by("pk").values_list("recipient__username", "kind", "text", "link")
    )
    assert told == [
        ("colleague", "assigned", "Assigned to you: Amira Haddad.", "/gates/loan-x--g1/"),
        (
            "intake",
            "decided",
            "Your submission Amira Haddad was approved by colleague.",
            "/history/submissions/",
        ),
    ]
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["colleague@bank.example"], "Assigned to you: Amira Haddad")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failing_mail_server_never_fails_the_projection_write(settings):
    settings.EMAIL_BACKEND = "tests.test_notices.BrokenMail"
    colleague = make_user("colleague", "credit_officer")
    colleague.email = "colleague@bank.example"
    colleague.save()

    gate_apply_snapshot(snapshot=snapshot(version=1))
    written = gate_apply_snapshot(
        snapshot=snapshot(version=2, assignee="colleague", assignee_id=str(colleague.pk))
    )

    assert written and Gate.objects.get(gate_id="loan-x--g1").assignee == "colleague"
    assert unread_count_for(user=colleague) == 1


@pytest.mark.django_db(transaction=True)
def test_the_notify_activity_retried_tells_each_holder_in_the_portal_once():
    officer = make_user("officer", "credit_officer")
    officer.email = "officer@bank.example"
    officer.save()
    make_user("senior", "senior_credit_officer")
    notice = Notice(kind="opened", gate=snapshot(version=1, priority="high"))

    notify_reviewers(notice)
    notify_reviewers(notice)  # Temporal retried it (the first answer was lost)

    (told,) = Notification.objects.all()
    assert told.recipient == officer and told.kind == "opened"
    assert told.text == "High priority, waiting for your role: Amira Haddad."
    assert len(mail.outbox) == 2  # e-mail is at least once, as before


@pytest.mark.django_db(transaction=True)
def test_a_subject_with_a_nul_or_a_lone_surrogate_is_stored_replaced_and_mailed_on_one_line():
    officer = make_user("officer", "credit_officer")
    officer.email = "officer@bank.example"
    officer.save()
    odd = "Amira\x00 Haddad\ud800\r\nBcc: someone@evil.example"

    notify_reviewers(Notice(kind="sla_warning", gate=snapshot(subject=odd)))

    (told,) = Notification.objects.all()
    assert told.subject == "Amira\ufffd Haddad\ufffd\r\nBcc: someone@evil.example"
    assert told.text.startswith("SLA about to run out") and "\x00" not in told.text
    (sent,) = mail.outbox
    assert "\n" not in sent.subject and sent.to == ["officer@bank.example"]


@pytest.mark.django_db
def test_a_gate_id_no_url_can_carry_leads_to_the_inbox():
    assert dataclasses.replace(event(), gate_id="odd id/../x").link == "/"
    assert event().link == "/gates/loan-x--g1/"


# --- events end to end, on the Temporal dev server ----------------------------------------------


def test_an_assignment_by_a_colleague_is_told_but_a_claim_is_not(temporal, portal):
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    colleague.email = "colleague@bank.example"
    colleague.save()
    gate = projected_gate(start_loan(temporal, portal, loan_input()))
    client = logged_in(officer)

    client.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
    wait_for(lambda: Gate.objects.filter(pk=gate.pk, assignee="officer").exists())
    client.post(
        f"/gates/{gate.gate_id}/assign/",
        {"assignee": "colleague", "submission_id": str(uuid.uuid4())},
        headers=HTMX,
    )
    (notice,) = wait_for(lambda: list(Notification.objects.filter(recipient=colleague)))
    wait_for(lambda: mail.outbox)

    assert notice.kind == "assigned" and notice.link == f"/gates/{gate.gate_id}/"
    assert notice.text == f"officer assigned you: {gate.subject}."
    assert unread_count_for(user=officer) == 0  # their own claim
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["colleague@bank.example"], f"Assigned to you: {gate.subject}")
    ]
    assert "1</span>" in logged_in(colleague).get("/notifications/count/").content.decode()


def test_the_submitter_is_told_of_the_decision(temporal, portal):
    officer = make_user("officer", "credit_officer")
    submitter = make_user("intake", "loan_intake")
    submitter.email = "intake@bank.example"
    submitter.save()
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)

    decide(logged_in(officer), gate, "approve", reason="Affordable")
    (notice,) = wait_for(lambda: list(Notification.objects.filter(recipient=submitter)))
    wait_for(lambda: [m for m in mail.outbox if m.to == ["intake@bank.example"]])

    assert (
        notice.kind == "decided" and notice.text == f"Your submission {gate.subject} was approved by officer."
    )
    assert [m.subject for m in mail.outbox if m.to == ["intake@bank.example"]] == [
        f"Decision on your submission: {gate.subject}"
    ]
    assert not Notification.objects.filter(recipient=officer).exists()
    assert temporal.run(handle.result()).outcome == "approved"


def test_an_escalation_tells_the_new_role_in_the_portal(temporal, portal):
    officer = make_user("officer", "credit_officer")
    senior = make_user("senior", "senior_credit_officer")
    other = make_user("adviser", "licensed_adviser")
    handle = start_loan(temporal, portal, loan_input(sla_seconds=3, escalation_sla_seconds=3600))
    gate = projected_gate(handle)

    escalated = wait_for(lambda: Notification.objects.filter(recipient=senior, kind="escalated").first())

    assert escalated.text == f"Escalated to your role because its SLA ran out: {gate.subject}."
    assert escalated.link == f"/gates/{gate.gate_id}/"
    assert Notification.objects.filter(recipient=officer, kind="sla_warning").exists()
    assert not Notification.objects.filter(recipient=other).exists()
    assert not Notification.objects.filter(recipient=officer, kind="escalated").exists()
    page = logged_in(senior).get("/notifications/").content.decode()
    assert "Escalated to your role because its SLA ran out" in page and "Mark read" in page
    temporal.run(handle.terminate("test done"))
