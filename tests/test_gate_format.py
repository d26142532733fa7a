"""How agent data is shown to reviewers: labels and values, never Python reprs."""

from __future__ import annotations

import pytest

from reviewer_portal.inbox.templatetags.gate_format import display, label


def test_keys_become_labels():
    assert label("annual_income") == "Annual income"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "Yes"),
        (False, "No"),
        ([], "none"),
        (None, "none"),
        (["score below 580", "1 default(s) on file"], "score below 580; 1 default(s) on file"),
        (18000.0, "18,000"),
        (1118.623, "1,118.62"),
        (0.079, "0.079"),
        (742, "742"),
        ("car", "car"),
        ({"code": "ISA", "value": 1200.5}, "Code: ISA, Value: 1,200.50"),
        ([{"code": "A"}, {"code": "B"}], "Code: A\nCode: B"),
    ],
)
def test_values_are_shown_for_people(value, shown):
    assert display(value) == shown
