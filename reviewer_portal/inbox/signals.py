"""Signals about the gate projection: listeners (live updates, notifications) hang off these."""

from django.dispatch import Signal

# Sent after a gate's projection row changed, from whichever process wrote it (worker or portal),
# with `gate`: the Gate row as written, and `created`: whether the row is new.
gate_changed = Signal()
