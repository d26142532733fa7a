"""A team's agent from outside the project's packages (tests/agents/claims/), with a reviewer role
the portal has never heard of: its reviewers see, claim and decide its gates in the browser, and
other roles see nothing of them. Nothing outside that folder names the agent or the role."""

from __future__ import annotations

import dataclasses
import time
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import expect

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.apps import create_role_groups
from reviewer_portal.accounts.checks import gate_roles_check
from reviewer_portal.accounts.roles import REVIEWER_ROLES, reviewer_roles_of
from reviewer_portal.inbox.models import Gate
from tests.agents.claims import CLAIMS_AGENT, HANDLER
from tests.browser import SCREENSHOTS, signed_in_page, wait_for_projected_gates
from tests.conftest import agent_input_for, logged_in, make_user, start_run

pytestmark = pytest.mark.browser


def start_claim(temporal, queue: str, policy_number: str, amount: int):
    case = {"policy_number": policy_number, "amount": amount, "claimant": "Noor Aziz"}
    agent_input = agent_input_for(CLAIMS_AGENT, f"Claim on policy {policy_number}: {amount:,}", case)
    return start_run(temporal, queue, agent_input, prefix="claims")


def test_the_portal_learns_an_outside_agents_role_and_makes_its_group(db):
    create_role_groups()

    assert REVIEWER_ROLES[HANDLER] == "Claims handler"
    assert Group.objects.filter(name=HANDLER).exists()
    assert reviewer_roles_of(make_user("handler", HANDLER)) == {HANDLER}


def test_its_reviewers_see_claim_and_decide_its_gates_and_others_see_nothing(
    live_server, portal, temporal, browser
):
    make_user("handler", HANDLER)
    make_user("officer", "credit_officer")
    handle = start_claim(temporal, portal, "POL-1001", 2_400)
    [gate] = wait_for_projected_gates(handle)

    officer = signed_in_page(browser, live_server.url, "officer")
    expect(officer.locator("main")).not_to_contain_text("POL-1001")
    assert officer.goto(f"{live_server.url}/gates/{gate.gate_id}/").status in (403, 404)

    page = signed_in_page(browser, live_server.url, "handler")
    expect(page.get_by_role("link", name="Claims handler")).to_be_visible()  # its queue
    row = page.locator("table.gates tbody tr", has_text="POL-1001")
    expect(row).to_have_count(1)
    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("POL-1001")
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#decision-panel")).to_contain_text("Claimed by handler (you)")
    page.get_by_label("Reason").fill("Covered by the policy.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#decision-panel")).to_contain_text("Approved by handler")
    page.screenshot(path=SCREENSHOTS / "outside-agent-approved.png", full_page=True)

    result = temporal.run(handle.result(), timeout=30)
    assert result.outcome == "approved" and result.action["action"] == "paid"
    assert Gate.objects.get(gate_id=gate.gate_id).decided_by == "handler"


def test_list_agents_prints_a_line_per_agent_with_its_domain_roles_tools_and_prompts():
    out = StringIO()
    call_command("list_agents", stdout=out)
    lines = out.getvalue().splitlines()

    assert len(lines) == len(AGENTS)
    claims = next(line for line in lines if line.startswith("claims: "))
    assert claims == (
        "claims: Claims triage | namespace default, task queue agents | roles claims_handler | "
        "tools claims.policy_check | prompt claims.triage v1"
    )


def test_check_names_a_gate_role_no_agent_declares(monkeypatch):
    undeclared = dataclasses.replace(CLAIMS_AGENT, name="claims_v2", roles=())
    monkeypatch.setitem(AGENTS, "claims_v2", undeclared)
    monkeypatch.setitem(AGENTS, "claims", dataclasses.replace(CLAIMS_AGENT, roles=()))

    errors = gate_roles_check()

    assert [e.id for e in errors] == ["accounts.E001", "accounts.E001"]
    assert "Agent claims_v2's gates name the role 'claims_handler', which no agent declares." in errors[1].msg


def test_a_tool_is_named_once_by_its_decorator_and_the_spec_takes_the_function():
    def not_a_tool(args: object) -> dict:
        return {}

    assert CLAIMS_AGENT.tools == ("claims.policy_check",)
    assert any(getattr(a, "__name__", "") == "policy_check" for a in CLAIMS_AGENT.activities)
    with pytest.raises(ValueError, match="'not_a_tool' is not a tool: decorate it with @tool"):
        dataclasses.replace(CLAIMS_AGENT, tools=(not_a_tool,))


def test_its_intake_page_inbox_fields_evidence_and_flags_come_from_its_folder(
    live_server, portal, temporal, browser
):
    make_user("handler", HANDLER)
    page = signed_in_page(browser, live_server.url, "handler")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New claim").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New claim")
    page.get_by_label("Policy number").fill("pol-1234")
    page.get_by_label("Amount claimed").fill("9000")
    page.get_by_label("Claimant").fill("Noor Aziz")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".messages")).to_contain_text("Claim submitted; the agent is checking the policy.")
    [gate] = wait_for_claims_gates()
    assert gate.workflow_id.startswith("claim-") and gate.case["policy_number"] == "POL-1234"

    # Another handler's inbox: its declared columns, its amount, and search over its fields.
    make_user("handler2", HANDLER)
    other = signed_in_page(browser, live_server.url, "handler2")
    row = other.locator("table.gates tbody tr", has_text="POL-1234")
    expect(row.locator("td.details")).to_have_text("Policy POL-1234 · Claimant Noor Aziz")
    expect(row.locator("td.num")).to_have_text("£9,000")
    other.get_by_label("Search").fill("noor")
    other.get_by_role("button", name="Apply filters").click()
    expect(other.locator("table.gates tbody tr")).to_have_count(1)
    # The search's hint names the fields it covers, the claims agent's among them.
    expect(other.locator("form.filters")).to_contain_text("claimant")
    expect(other.locator("form.filters")).to_contain_text("policy")

    other.locator("table.gates tbody tr").get_by_role("link").first.click()
    case = other.locator("section", has=other.get_by_role("heading", name="Case details"))
    expect(case).to_contain_text("Amount claimed")
    expect(case).to_contain_text("£9,000")
    evidence = other.locator(
        "section", has=other.get_by_role("heading", name="Evidence gathered by the agent")
    )
    expect(evidence.get_by_role("heading", level=3)).to_have_text("Policy check")  # not claims.policy_check
    expect(evidence).to_contain_text("Cover limit")
    expect(evidence).to_contain_text("£10,000")
    expect(other.locator(".flags")).to_contain_text("The claim is over 80 % of the policy's cover (10,000).")
    other.screenshot(path=SCREENSHOTS / "outside-agent-declared-fields.png", full_page=True)


def wait_for_claims_gates(timeout: float = 30) -> list[Gate]:
    deadline = time.monotonic() + timeout
    while not (gates := list(Gate.objects.filter(agent="claims"))):
        assert time.monotonic() < deadline, "the submitted claim never reached its gate"
        time.sleep(0.1)
    return gates


def test_its_intake_refuses_other_roles_bad_input_and_a_replayed_form(portal, temporal):
    handler = logged_in(make_user("handler", HANDLER))
    officer = logged_in(make_user("officer", "credit_officer"))
    url = "/intake/claims/new/"

    assert officer.get(url).status_code == 403
    assert officer.post(url, claim_form()).status_code == 403
    assert handler.get("/intake/nowhere/new/").status_code == 404
    assert handler.get("/intake/market/new/").status_code == 404  # an agent with no intake
    assert "New claim" not in officer.get("/").content.decode()

    oversize = handler.post(url, claim_form(claimant="N" * 121))
    nul = handler.post(url, claim_form(claimant="Noor\x00Aziz"))
    malformed = handler.post(url, claim_form(policy_number="1234; DROP"))
    negative = handler.post(url, claim_form(amount="-5"))
    assert [r.status_code for r in (oversize, nul, malformed, negative)] == [400] * 4
    assert "A policy number looks like POL-1001." in malformed.content.decode()
    assert "Null characters are not allowed." in nul.content.decode()
    assert not Gate.objects.filter(agent="claims").exists()

    # A right-to-left override would let a claimant's name spoof the inbox's subjects.
    spoof = handler.post(url, claim_form(claimant="Noor \u202eevil"))
    assert spoof.status_code == 400 and "invisible characters (U+202E)" in spoof.content.decode()
    # Odd but real Unicode is kept as typed; the same form sent twice starts one run.
    form = claim_form(claimant="Zoë Ñúñez 李小龍 👩\u200d⚕️")
    first, replayed = handler.post(url, form), handler.post(url, form)
    assert first.status_code == replayed.status_code == 302
    handle = temporal.client.get_workflow_handle(f"claim-{form['submission_id']}")
    [gate] = wait_for_projected_gates(handle)
    assert gate.case["claimant"] == "Zoë Ñúñez 李小龍 👩\u200d⚕️"
    assert Gate.objects.filter(agent="claims").count() == 1


def claim_form(**changes: str) -> dict[str, str]:
    return {
        "policy_number": "POL-2001",
        "amount": "1200",
        "claimant": "Noor Aziz",
        "submission_id": str(uuid.uuid4()),
        **changes,
    }


def test_an_agents_help_text_is_shown_as_text_never_as_markup(portal, monkeypatch):
    injected = '<div hx-post="/gates/x/decide/" hx-trigger="load">Policy number</div>'
    fields = (
        dataclasses.replace(CLAIMS_AGENT.intake.fields[0], help=injected),
        *CLAIMS_AGENT.intake.fields[1:],
    )
    intake = dataclasses.replace(CLAIMS_AGENT.intake, fields=fields)
    monkeypatch.setitem(AGENTS, "claims", dataclasses.replace(CLAIMS_AGENT, intake=intake))

    page = logged_in(make_user("handler", HANDLER)).get("/intake/claims/new/").content.decode()

    assert '<div hx-post="/gates/x/decide/"' not in page  # htmx would have acted on it
    assert "&lt;div hx-post=&quot;/gates/x/decide/&quot;" in page
