"""Scoring on a remote HTTP scorer (FRAUD_SCORER_URL) instead of the local model.

The scorer answers `POST {"features": {...}}` with `{"score": 0.93, "model_version": "..."}`.
Failures are ApplicationErrors that Temporal retries as it does the LLM's: a 429 or 5xx with
`retry-after-ms` or `Retry-After` (agents.framework.retry_after) is retried after exactly that
delay (capped), any other retryable failure after the retry policy's backoff; a 4xx is final.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
from temporalio.exceptions import ApplicationError

from agents.framework.retry_after import retry_after_seconds

RETRYABLE_STATUS = {408, 409, 429}
REQUEST_TIMEOUT_SECONDS = 10.0
# A scorer asking for a longer wait than this is asked again after this long instead.
MAX_RETRY_AFTER_SECONDS = 120.0
MAX_VERSION_LENGTH = 200


async def remote_score(url: str, features: dict[str, float]) -> dict[str, Any]:
    """The remote scorer's score and model version for `features`."""
    try:
        async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            response = await client.post(url, json={"features": features})
    except httpx2.TimeoutException:
        raise ApplicationError(
            f"The fraud scorer did not answer within {REQUEST_TIMEOUT_SECONDS:g} s.", type="ScorerTimeout"
        ) from None
    except httpx2.HTTPError as err:
        raise ApplicationError(
            f"Could not reach the fraud scorer ({err}).", type="ScorerUnreachable"
        ) from None
    if response.status_code != 200:
        raise status_failure(response.status_code, response.headers, response.reason_phrase)
    return _scored(response)


def status_failure(status: int, headers: httpx2.Headers, reason: str) -> ApplicationError:
    """The failure for a non-200 answer: its type, whether it is retried, and after how long."""
    summary = f"The fraud scorer answered HTTP {status} ({reason or 'no reason given'})."
    if status not in RETRYABLE_STATUS and status < 500:
        return ApplicationError(summary, type="ScorerRejectedRequest", non_retryable=True)
    kind = "ScorerRateLimited" if status == 429 else "ScorerUnavailable"
    delay = retry_after_seconds(headers)
    if not delay:  # no hint, or "now": the retry policy's backoff
        return ApplicationError(summary, type=kind)
    wait = timedelta(seconds=min(delay, MAX_RETRY_AFTER_SECONDS))
    return ApplicationError(summary, type=kind, next_retry_delay=wait)


def _scored(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApplicationError("The fraud scorer's answer is not a JSON object.", type="MalformedScore")
    score, version, drivers = body.get("score"), body.get("model_version"), body.get("drivers")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise ApplicationError("The fraud scorer's answer has no score from 0 to 1.", type="MalformedScore")
    if not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_LENGTH:
        raise ApplicationError("The fraud scorer's answer names no model version.", type="MalformedScore")
    return {
        "score": round(float(score), 6),
        "model_version": version,
        "drivers": [str(d)[:80] for d in drivers[:5]] if isinstance(drivers, list) else [],
    }
