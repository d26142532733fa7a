"""The portal signs every run it starts (agents.framework.start_claims): a Temporal client
interceptor on each of the portal's clients, so no start path can forget it.

It signs with the portal's reviewer-action key, and seals the start too, with the namespace's
payload keys (agents.framework.seals): the signature is checked when a worker first executes the
run, the seal every time one does, replays included. A process without the key (an agent worker)
starts nothing: a start it tries is refused here, in words, rather than sent to be refused by every
worker after Temporal accepted it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowInput
from temporalio.converter import PayloadConverter

from agents.framework.seals import HEADERS, START, SealKeys
from agents.framework.signing import signed_at_text
from agents.framework.start_claims import START_CLAIM_HEADER, StartClaim, input_digest, start_message
from reviewer_portal.trust.keys import SigningKey, signing_key


class SignedStarts(Interceptor):
    """Sign each start with `key()` (default: the portal's key, if this process holds it) and
    seal it with `seals` (the client's namespace's; None seals nothing, and workers refuse it)."""

    def __init__(
        self,
        converter: PayloadConverter,
        seals: SealKeys | None,
        key: Callable[[], SigningKey | None] | None = None,
    ) -> None:
        self.converter = converter
        self.seals = seals
        self.key = key or held_key

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _SignStarts(next, self)


class _SignStarts(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, signer: SignedStarts) -> None:
        super().__init__(next)
        self.signer = signer

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        key = self.signer.key()
        if key is None:
            raise ImproperlyConfigured(
                f"This process holds no portal signing key, so it cannot start {input.workflow} runs: "
                "workers run only the starts the portal signs (README, 'Trust model')."
            )
        digest = input_digest(self.signer.converter, input.args)
        headers = {
            START_CLAIM_HEADER: start_claim(key, self.signer.converter, input, digest=digest).to_header()
        }
        if self.signer.seals is not None:
            claims = {"workflow_type": input.workflow, "workflow_id": input.id, "input_sha256": digest}
            headers[HEADERS[START]] = self.signer.seals.seal(START, claims)
        input.headers = {**input.headers, **headers}
        return await super().start_workflow(input)


def start_claim(
    key: SigningKey,
    converter: PayloadConverter,
    input: StartWorkflowInput,
    *,
    now: datetime | None = None,
    digest: str | None = None,
) -> StartClaim:
    """The portal's claim that it starts `input` (its type, id and arguments), signed now."""
    signed_at = signed_at_text(now or timezone.now())
    message = start_message(
        workflow_type=input.workflow,
        workflow_id=input.id,
        digest=digest or input_digest(converter, input.args),
        key_id=key.key_id,
        signed_at=signed_at,
    )
    return StartClaim(key.key_id, signed_at, key.sign(message))


def held_key() -> SigningKey | None:
    try:
        return signing_key()
    except ImproperlyConfigured:
        return None
