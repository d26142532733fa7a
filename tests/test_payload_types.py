"""The dataclasses that cross the Workflow boundary keep evaluated annotations, not strings:
Temporal's converter reads a dataclass's type hints for every value it decodes, and evaluates each
string annotation again every time (about 3 ms of worker CPU per loan run, measured with
benchmarks/gate_throughput.py). `from __future__ import annotations` in one of these modules
would turn them all into strings again."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from agents.framework import gate_changes, llm_types, run_spec, types

MODULES = [types, run_spec, llm_types, gate_changes]


def payload_classes() -> list[type]:
    return [
        cls
        for module in MODULES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
    ]


def test_every_module_of_payload_classes_is_covered():
    assert {cls.__module__ for cls in payload_classes()} == {m.__name__ for m in MODULES}
    assert len(payload_classes()) >= 20


@pytest.mark.parametrize("cls", payload_classes(), ids=lambda cls: cls.__qualname__)
def test_payload_fields_are_annotated_with_types_not_strings(cls):
    strings = {name: hint for name, hint in inspect.get_annotations(cls).items() if isinstance(hint, str)}
    assert not strings, f"{cls.__qualname__} has string annotations: {strings}"
