"""The Django form of an agent's declared intake (agents.framework.intake)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.html import conditional_escape

from agents.framework.input_rules import text_refusal
from agents.framework.intake import Intake, IntakeField


class IntakeForm(forms.Form):
    """An intake's fields, and the submission id that becomes the workflow id: submitting the
    same form twice starts one run."""

    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, intake: Intake, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.intake = intake
        fields = {f.name: _form_field(f) for f in intake.fields}
        self.fields = {**fields, "submission_id": self.fields["submission_id"]}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            for name, message in self.intake.errors(self.values()).items():
                self.add_error(name if name in self.fields else None, message)
        return data

    def values(self) -> dict[str, Any]:
        """The cleaned values as the agent takes them: decimals as floats, no submission id."""
        return {
            spec.name: float(value) if isinstance(value := self.cleaned_data[spec.name], Decimal) else value
            for spec in self.intake.fields
        }


def _form_field(spec: IntakeField) -> forms.Field:
    # Django renders help text unescaped: an agent's text is escaped here, never trusted as HTML.
    common: dict[str, Any] = {"label": spec.label, "help_text": conditional_escape(spec.help)}
    if spec.kind == "decimal":
        return forms.DecimalField(
            **common, min_value=_decimal(spec.minimum), max_value=_decimal(spec.maximum), decimal_places=2
        )
    if spec.kind == "integer":
        return forms.IntegerField(**common, min_value=_int(spec.minimum), max_value=_int(spec.maximum))
    if spec.kind == "choice":
        return forms.ChoiceField(**common, choices=spec.choices)
    attrs = {"list": f"{spec.name}-suggestions", "autocomplete": "off"} if spec.suggestions else {}
    # No invisible or control characters (they would let a submission spoof an inbox subject); the
    # pattern as declared, case-sensitive (an `uppercase` field is folded before it is checked).
    validators: list[Callable[[str], None]] = [_visible_text(spec)]
    if spec.pattern:
        validators.append(
            RegexValidator(f"^(?:{spec.pattern})$", spec.pattern_message or "Not in the expected form.")
        )
    field = UppercaseCharField if spec.uppercase else forms.CharField
    return field(
        **common, max_length=spec.max_length, validators=validators, widget=forms.TextInput(attrs=attrs)
    )


class UppercaseCharField(forms.CharField):
    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).upper()


def _visible_text(spec: IntakeField) -> Callable[[str], None]:
    def check(value: str) -> None:
        refusal = text_refusal(spec.label.lower(), value, max_length=spec.max_length, multiline=False)
        if refusal:
            raise ValidationError(refusal)

    return check


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
