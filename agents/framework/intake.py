"""An agent's intake, declared with the agent: who may submit, the form's fields, and how a
submission becomes a run. The portal builds the page, its URL, its nav entry and its permission
check from this; nothing here imports Django.

A field's kind names its widget and checks (`text`, `decimal`, `integer`, `choice`); `to_run`
receives the cleaned values (decimals as floats) and returns the run's subject and case. `check`
may refuse values the field checks cannot see (a customer who does not exist), per field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal["text", "decimal", "integer", "choice"]


@dataclass(frozen=True)
class IntakeField:
    name: str
    label: str
    kind: FieldKind = "text"
    help: str = ""
    max_length: int = 200
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[tuple[str, str], ...] = ()
    # A regular expression a text value must match in full, and what to say when it does not.
    pattern: str = ""
    pattern_message: str = ""
    # Values offered as the user types (value, label); any other value is still allowed.
    suggestions: tuple[tuple[str, str], ...] = ()
    uppercase: bool = False


@dataclass(frozen=True)
class RunRequest:
    """What a submission starts: the run's subject line and its case."""

    subject: str
    case: dict[str, Any]


@dataclass(frozen=True)
class Intake:
    label: str  # the nav entry and the page's heading: "New loan application"
    roles: tuple[str, ...]  # who may submit (admins always may)
    fields: tuple[IntakeField, ...]
    to_run: Callable[[Mapping[str, Any]], RunRequest]
    submitted: str  # the message after a submission: "Application submitted; ..."
    # The run's workflow id is this prefix and the form's submission id (a resubmit is one run).
    workflow_prefix: str
    intro: str = ""
    button: str = "Submit"
    # The page's path under the portal; "<agent>/new/" when empty.
    path: str = ""
    # Field name -> error, for values no single field's checks can refuse.
    check: Callable[[Mapping[str, Any]], dict[str, str]] | None = field(default=None)

    def errors(self, values: Mapping[str, Any]) -> dict[str, str]:
        return self.check(values) if self.check else {}
