"""A Redis cache serializer for text only: what the shared caches hold are tokens and counts.

Django's default Redis serializer unpickles whatever it reads back, so anyone able to write to
Redis could run code in every portal process. This one stores `str` as UTF-8 (marked `t:`) and `int`
as a Redis integer, refuses anything else on the way in, and on the way out decodes text or
reads an integer, nothing else.
"""

from __future__ import annotations

TEXT = b"t:"


class TextSerializer:
    def __init__(self, protocol: int | None = None) -> None:
        pass  # Django passes pickle's protocol; there is no pickle here

    def dumps(self, obj: object) -> bytes | int:
        if isinstance(obj, bool) or not isinstance(obj, int | str):
            raise TypeError(f"This cache holds text and integers only, not {type(obj).__name__}.")
        # Integers as Redis integers, so INCR keeps working, as Django's own serializer does.
        return obj if isinstance(obj, int) else TEXT + obj.encode()

    def loads(self, data: bytes | int) -> str | int:
        """Text or an integer; anything else Redis holds raises ValueError (a cache failure)."""
        if isinstance(data, bytes) and data.startswith(TEXT):
            return data[len(TEXT) :].decode()
        return int(data)
