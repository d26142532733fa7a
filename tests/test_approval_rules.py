"""Which tool calls wait for a human: decided by the pinned rule, failing closed."""

from __future__ import annotations

import pytest

from agents.framework.types import ApprovalRule, ToolCall


def call(severity: object, name: str = "regulatory.record_finding") -> ToolCall:
    return ToolCall(id="c1", name=name, arguments={"severity": severity})


@pytest.mark.parametrize(
    ("severity", "gated"),
    [
        ("low", False),
        ("medium", False),
        ("high", True),
        ("critical", True),
        ("High", True),
        ("", True),
        (None, True),
    ],
)
def test_a_fail_closed_rule_gates_everything_but_the_listed_safe_values(severity, gated):
    rule = ApprovalRule(tool="regulatory.record_finding", when="severity", skip_values=["low", "medium"])
    assert rule.applies(call(severity)) is gated


def test_a_rule_without_a_condition_gates_every_call_of_its_tool_only():
    rule = ApprovalRule(tool="payments.transfer")
    assert rule.applies(call("low", "payments.transfer"))
    assert not rule.applies(call("low", "payments.quote"))


def test_the_older_listed_values_form_still_gates_only_those_values():
    rule = ApprovalRule(tool="regulatory.record_finding", when="severity", values=["high", "critical"])
    assert rule.applies(call("critical")) and not rule.applies(call("High"))
