"""A real loopback HTTP server that speaks the OpenAI chat-completions API, with scripted faults.

Each scripted fault answers one request, in order; after the script runs out, the server answers
like the offline model would (so a run can complete). A request to summarise earlier turns (at a
continue-as-new) is answered as the offline model does, outside the script. Request arrival times are kept for
asserting the waits between attempts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

from agents.framework.offline_model import AGENT_HEADER, TASK_HEADER, _completion, _digest
from agents.framework.registry import AGENTS


@dataclass
class Fault:
    """One scripted answer: status, body and headers, sent after `delay` seconds.

    A header value may be a function, called as the answer is sent (for an HTTP date that must
    be relative to the moment of the answer, not of the script).
    """

    status: int
    body: str = ""
    headers: dict[str, str | Callable[[], str]] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


def scripted_reply(message: dict, finish_reason: str) -> Fault:
    """A scripted answer of the model: `message`, as the chat-completions API sends it."""
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    return Fault(200, json.dumps(body))


class FakeOpenAI:
    def __init__(self, script: list[Fault] | None = None, *, repeat_last: bool = False) -> None:
        self.script = list(script or [])
        self.repeat_last = repeat_last
        self.request_times: list[float] = []
        self.auth_headers: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A slow answer's thread may still be asleep at shutdown; don't wait for it.
        self._server.daemon_threads = True
        # Polled often so that leaving the `with` block, which waits for a poll, is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def waits(self) -> list[float]:
        """Seconds between consecutive request arrivals."""
        return [later - earlier for earlier, later in pairwise(self.request_times)]

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _arrived(self, auth: str) -> Fault | None:
        """Record a request and take its scripted fault (None: answer normally)."""
        with self._lock:
            self.request_times.append(time.monotonic())
            self.auth_headers.append(auth)
            if not self.script:
                return None
            return self.script[0] if self.repeat_last and len(self.script) == 1 else self.script.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get(TASK_HEADER) == "summarise":  # outside the script
                    reply = _completion(body, {"content": _digest(body)})
                    fault = Fault(200, json.dumps(reply))
                else:
                    fault = fake._arrived(self.headers.get("Authorization", ""))
                if fault is None:
                    spec = AGENTS[self.headers[AGENT_HEADER]]
                    reply = _completion(body, spec.offline_policy(body["messages"]))
                    reply["model"] = "fake-gpt"
                    fault = Fault(200, json.dumps(reply))
                time.sleep(fault.delay)
                payload = fault.body.encode()
                try:
                    self.send_response(fault.status)
                    self.send_header("Content-Type", fault.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in fault.headers.items():
                        self.send_header(name, value() if callable(value) else value)
                    self.end_headers()
                    self.wfile.write(payload)
                except ConnectionError:
                    pass  # the client gave up waiting, as a slow fault means it to

            def log_message(self, *args: object) -> None:
                pass

        return Handler
