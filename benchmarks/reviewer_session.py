"""A reviewer's session on the served portal, as a browser holds it: signed in through the login
form, and, for decision_latency.py, claiming and deciding a loan gate as htmx posts them."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.processes import BenchmarkError

if TYPE_CHECKING:
    import httpx


def signed_in(base_url: str, username: str, password: str, timeout: float = 30) -> httpx.Client:
    """An HTTP session signed in through the login form (CSRF token and cookie); no redirects followed."""
    import httpx

    http = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
    page = http.get("/accounts/login/")
    response = http.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": hidden_input(page.text, "csrfmiddlewaretoken"),
        },
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    if response.status_code != 302:
        http.close()
        raise BenchmarkError(f"Login as {username} failed: HTTP {response.status_code}")
    return http


def hidden_input(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    if match is None:
        raise BenchmarkError(f"No {name} field in the page")
    return match.group(1)


@dataclass(frozen=True)
class Decision:
    """An approval ready to post: the gate, the form as the page gave it, htmx's headers."""

    gate_id: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Portal:
    """A logged-in reviewer's browser session on the portal, reduced to what a decision needs."""

    http: httpx.Client

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> Portal:
        return cls(signed_in(base_url, username, password))

    def ready_to_decide(self, gate_id: str) -> Decision:
        """Claim the gate (a loan gate is claimed before it is decided) and read its page for a fresh
        form, as a reviewer does before deciding; none of it is timed."""
        self._claim(gate_id)
        page = self.http.get(f"/gates/{gate_id}/")
        if page.status_code != 200:
            raise BenchmarkError(f"GET gate {gate_id}: HTTP {page.status_code}")
        form = {
            "decision": "approve",
            "reason": "Affordable, clean credit file.",
            "submission_id": str(uuid.uuid4()),
            "revision": hidden_input(page.text, "revision"),
            "shown": hidden_input(page.text, "shown"),  # what the page showed, as a browser sends it
        }
        headers = {"HX-Request": "true", "X-CSRFToken": hidden_input(page.text, "csrfmiddlewaretoken")}
        return Decision(gate_id, form, headers)

    def time_decision(self, decision: Decision) -> float:
        """(b) One approval through the decide view, as htmx posts it, in seconds."""
        started = time.perf_counter()
        response = self.http.post(
            f"/gates/{decision.gate_id}/decide/", data=decision.form, headers=decision.headers
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or "recorded by the agent" not in response.text:
            raise BenchmarkError(
                f"Decision on {decision.gate_id} not recorded: HTTP {response.status_code}\n{response.text[:2000]}"
            )
        return elapsed

    def _claim(self, gate_id: str) -> None:
        page = self.http.get(f"/gates/{gate_id}/")
        data = {"submission_id": str(uuid.uuid4())}
        headers = {"HX-Request": "true", "X-CSRFToken": hidden_input(page.text, "csrfmiddlewaretoken")}
        response = self.http.post(f"/gates/{gate_id}/claim/", data=data, headers=headers)
        if response.status_code != 200 or "(you)" not in response.text:
            raise BenchmarkError(
                f"Claim of {gate_id} failed: HTTP {response.status_code}\n{response.text[:2000]}"
            )

    def close(self) -> None:
        self.http.close()
