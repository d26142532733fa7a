"""The simulated people of topology_load.py, each a browser session on a portal process: credit
officers who post the loan intake form, and reviewers who read the inbox, open a gate, claim it
and decide it (one in five against the AI's recommendation, so the confirm step is answered too);
and the tally of what each step took and what went wrong."""

from __future__ import annotations

import html
import random
import re
import sys
import threading
import time
import uuid
from collections import defaultdict

import httpx

from benchmarks.cases import intake_form, small_car_loan
from benchmarks.reviewer_session import signed_in

PASSWORD = "load-test-password"  # throwaway users in a throwaway database
GATE_LINK = re.compile(r'href="/gates/([^/"?]+)/"')
HIDDEN = re.compile(r'name="(submission_id|revision|confirm_token)"[^>]*?value="([^"]*)"')
CONFIRM = re.compile(r'name="confirm_token" value="([^"]+)"')
DECIDED_BY = re.compile(r"(?:Approved|Rejected|Sent back to the agent)\s+by\s+(\S+)")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.retries: dict[str, int] = defaultdict(int)
        self.decided: list[str] = []  # workflow ids whose decide post the portal answered as taken

    def took(self, step: str, seconds: float) -> None:
        with self.lock:
            self.times[step].append(seconds * 1000)

    def error(self, step: str, detail: str) -> None:
        with self.lock:
            self.errors[step] += 1
            if self.errors[step] <= 5:
                print(f"  error in {step}: {detail[:300]}", file=sys.stderr, flush=True)


class Browser:
    """A logged-in session on one portal process, posting as the page's htmx does."""

    def __init__(self, base: str, username: str) -> None:
        self.username = username
        self.http = signed_in(base, username, PASSWORD, timeout=120)

    def post(self, path: str, data: dict[str, str], *, htmx: bool = True) -> httpx.Response:
        headers = {
            "X-CSRFToken": self.http.cookies.get("csrftoken") or "",
            "Referer": str(self.http.base_url),
        }
        if htmx:
            headers.update({"HX-Request": "true", "HX-Current-URL": f"{self.http.base_url}{path}"})
        return self.http.post(path, data=data, headers=headers)


def submitter(base: str, username: str, count: int, stats: Stats, submitted: dict[str, float]) -> None:
    browser = Browser(base, username)
    loan = intake_form(small_car_loan())
    for _ in range(count):
        submission_id = str(uuid.uuid4())
        form = browser.http.get("/applications/new/")
        began = time.perf_counter()
        response = browser.post("/applications/new/", {**loan, "submission_id": submission_id}, htmx=False)
        if response.status_code == 302:
            stats.took("submit", time.perf_counter() - began)
            submitted[f"loan-{submission_id}"] = time.time()
        else:
            stats.error("submit", f"{response.status_code}: {response.text[:200]} (form {form.status_code})")


def reviewer(base: str, username: str, stats: Stats, done: threading.Event, rng: random.Random) -> None:
    browser = Browser(base, username)
    while not done.is_set():
        inbox = browser.http.get("/")
        if inbox.status_code != 200:
            stats.error("inbox", str(inbox.status_code))
            continue
        gates = list(dict.fromkeys(GATE_LINK.findall(inbox.text)))
        if not gates:
            time.sleep(0.5)
            continue
        review(browser, rng.choice(gates[:20]), stats, rng)


def review(browser: Browser, gate_id: str, stats: Stats, rng: random.Random) -> None:
    page = browser.http.get(f"/gates/{gate_id}/")
    if page.status_code != 200:
        stats.retries["gate gone"] += 1  # decided or moved meanwhile
        return
    claim_form = re.search(
        r'/gates/[^"]+/claim/".*?name="submission_id"[^>]*?value="([^"]+)"', page.text, re.S
    )
    if claim_form:
        began = time.perf_counter()
        claimed = browser.post(f"/gates/{gate_id}/claim/", {"submission_id": claim_form.group(1)})
        notice = NOTICE.search(claimed.text)
        if claimed.status_code == 409 and (_decided_by(claimed) or (notice and TAKEN.search(notice[1]))):
            # A colleague claimed or decided it between our read and our claim: the portal refuses
            # ours and says so, as it should.
            stats.retries["taken before our claim"] += 1
            return
        if claimed.status_code != 200:
            said = html.unescape(notice[1]) if notice else claimed.text[:200]
            stats.error("claim", f"{claimed.status_code}: {said}")
            return
        stats.took("claim", time.perf_counter() - began)
        page = browser.http.get(f"/gates/{gate_id}/")
    if 'name="decision"' not in page.text:
        stats.retries["held by another"] += 1  # a colleague claimed it first
        return
    fields = dict(HIDDEN.findall(page.text.split('/decide/"', 1)[-1]))
    recommended = (
        "reject" if re.search(r"recommend\w*\W+(?:to\s+)?(reject|decline)", page.text, re.I) else "approve"
    )
    against = rng.random() < 0.2
    decision = ("reject" if recommended == "approve" else "approve") if against else recommended
    data = {
        "decision": decision,
        "reason": "Checked against policy (load test).",
        "submission_id": fields.get("submission_id", str(uuid.uuid4())),
        "revision": fields.get("revision", "0"),
    }
    began = time.perf_counter()
    response = browser.post(f"/gates/{gate_id}/decide/", data)
    asked = CONFIRM.search(response.text)
    if asked:
        data.update(confirmed="on", confirm_token=html.unescape(asked.group(1)))
        response = browser.post(f"/gates/{gate_id}/decide/", data)
        stats.retries["confirm step"] += 1
    if response.status_code == 200 and 'class="msg error"' not in response.text:
        stats.took("decide", time.perf_counter() - began)
        with stats.lock:
            stats.decided.append(gate_id.split("--")[0])
    elif response.status_code == 409 and _decided_by(response) not in (None, browser.username):
        # A colleague's decision reached the run first (the page was read before the projection
        # showed their claim): the portal refuses ours and shows theirs, which counts once.
        stats.retries["decided by another"] += 1
    else:
        stats.error("decide", f"{response.status_code}: {re.sub(r'<[^>]+>', ' ', response.text)[:300]}")


NOTICE = re.compile(r'class="msg[^"]*"[^>]*>(.*?)</', re.S)
TAKEN = re.compile(r"no longer open to claiming|is claimed by|already (?:claimed|decided)", re.I)


def _decided_by(response: httpx.Response) -> str | None:
    """Who the gate's panel in `response` says decided it, if anyone."""
    found = DECIDED_BY.search(re.sub(r"<[^>]+>", " ", response.text))
    return found.group(1) if found else None
