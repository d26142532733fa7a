"""A team's agent from outside the project's packages (tests/agents/claims/), with a reviewer role
the portal has never heard of: its reviewers see, claim and decide its gates in the browser, and
other roles see nothing of them. Nothing outside that folder names the agent or the role."""

from __future__ import annotations

import dataclasses
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
from tests.conftest import agent_input_for, make_user, start_run

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
