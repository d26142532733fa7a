"""What Temporal's answer to a start means for the submission kept before it."""

from __future__ import annotations

from temporalio.service import RPCStatusCode

# Answers after which Temporal may have started the run all the same (its answer was lost, or it
# was too busy to say): the submission stays kept, as a start not confirmed in time does.
UNCONFIRMED = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,  # e.g. a stream reset after the request went out
    RPCStatusCode.INTERNAL,
}
# Refusals of the submission itself (its input), never to be tried again as it is. Any other
# (an expired API key, a namespace not there yet, a key missing from the portal's files) would
# refuse every submission alike, and says nothing about this one.
REFUSED_FOR_ITSELF = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.OUT_OF_RANGE,
}
