"""A payload converter that reads JSON as strictly as the workflow needs.

The SDK's JSON converter fills a `list[str]` field from anything iterable: a JSON object becomes
the list of its keys, a string the list of its characters. Reviewer actions come from anyone
holding a Temporal credential, so a field typed as a list takes a JSON array and nothing else;
everything else converts as the SDK's default does.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)

SEQUENCES = (list, tuple, set, frozenset)


class ArraysOnly(JSONTypeConverter):
    def to_typed_value(self, hint: type, value: Any) -> Any:
        origin = getattr(hint, "__origin__", hint)
        if inspect.isclass(origin) and issubclass(origin, SEQUENCES) and not isinstance(value, list):
            raise TypeError(f"Expected a JSON array for {hint}, got {type(value).__name__}")
        return JSONTypeConverter.Unhandled


class StrictPayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, with the JSON one reading arrays strictly."""

    def __init__(self) -> None:
        strict_json = JSONPlainPayloadConverter(custom_type_converters=[ArraysOnly()])
        super().__init__(
            *(
                strict_json if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


STRICT_DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=StrictPayloadConverter
)
