"""A real loopback HTTP server that speaks the OpenAI chat-completions API, with scripted faults.

Each scripted fault answers one request, in order; after the script runs out, the server answers
like the offline model would (so a run can complete). Request times are kept for asserting waits.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agents.framework.offline_model import AGENT_HEADER, _completion
from agents.framework.registry import AGENTS


@dataclass
class Fault:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAI:
    def __init__(self, script: list[Fault] | None = None, *, repeat_last: bool = False) -> None:
        self.script = list(script or [])
        self.repeat_last = repeat_last
        self.request_times: list[float] = []
        self.auth_headers: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> Fault | None:
        if not self.script:
            return None
        return self.script[0] if self.repeat_last and len(self.script) == 1 else self.script.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.request_times.append(time.monotonic())
                fake.auth_headers.append(self.headers.get("Authorization", ""))
                fault = fake._next_fault()
                if fault is None:
                    spec = AGENTS[self.headers[AGENT_HEADER]]
                    reply = _completion(body, spec.offline_policy(body["messages"]))
                    reply["model"] = "fake-gpt"
                    fault = Fault(200, json.dumps(reply))
                payload = fault.body.encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in fault.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
