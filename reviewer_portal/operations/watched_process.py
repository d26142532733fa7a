"""A `serve_portal` process that answers its supervisor's ping only while its event loop runs.

uvicorn's supervisor pings each process every half second, and a thread of the process answers.
That thread goes on answering when the event loop itself hangs (a library call that never
returns, a deadlock), so a hung process kept its socket, and the share of new connections the
kernel sends that socket, while it served nothing. Here the server notes the time at each tick of
its main loop (every 0.1 s, on the event loop), and once the loop has not ticked for
`stall_seconds` the answering thread logs where the loop's thread is stuck and stays silent: the
supervisor's ping times out, and it replaces the process on the same socket.

Only a loop that has started serving is watched, and only until it is told to stop: starting and
stopping have their own limits (the supervisor's READY_SECONDS, and its stop's GRACEFUL_SECONDS).

The same thread ends a process its supervisor left behind. Linux sends each process SIGTERM when
the supervisor dies (operations/served_app.py), but a hung loop never acts on it and would hold
the port for ever: a process still running GRACEFUL_MARGIN_SECONDS past its graceful limit after
the supervisor died ends itself.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import traceback

from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("uvicorn.error")
# How long past its graceful limit a stopping process may take before it is killed (by the
# supervisor) or ends itself (with the supervisor gone): a hung loop never reaches that limit.
GRACEFUL_MARGIN_SECONDS = 5
# How often the answering thread, between pings, looks whether its supervisor is still there.
ORPHAN_CHECK_SECONDS = 1.0


class TickingServer(Server):
    """uvicorn's server, noting when its main loop last ticked (None until it serves)."""

    last_tick: float | None = None

    async def on_tick(self, counter: int) -> bool:
        self.last_tick = time.monotonic()
        return await super().on_tick(counter)

    def stalled_for(self) -> float:
        """Seconds since the loop last ticked; 0 before it serves and once it is stopping."""
        if self.last_tick is None or self.should_exit:
            return 0.0
        return time.monotonic() - self.last_tick


class WatchedProcess(Process):
    """A serving process that stops answering its supervisor once its loop has stalled."""

    def __init__(self, config: Config, sockets: list[socket.socket], stall_seconds: float) -> None:
        super().__init__(config, sockets)
        self.stall_seconds = stall_seconds
        self.supervisor = os.getpid()  # made in the supervisor, run in the new process
        self.loop_thread: int | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = TickingServer(config=self.config)
        return self._server

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the new process
        self.loop_thread = threading.get_ident()
        super().target(sockets)

    def pong(self) -> None:
        while not self.child_conn.poll(ORPHAN_CHECK_SECONDS):
            if os.getppid() != self.supervisor:
                self._end_as_orphan()
        self.child_conn.recv()
        server = self.server
        stalled = server.stalled_for() if isinstance(server, TickingServer) else 0.0
        if stalled > self.stall_seconds:
            self._report_stall(stalled)
            return  # no answer: the supervisor replaces this process
        self.child_conn.send(server.started)

    def _report_stall(self, stalled: float) -> None:
        frame = sys._current_frames().get(self.loop_thread or 0)
        where = "".join(traceback.format_stack(frame)) if frame else "(its thread is gone)\n"
        log.error(
            "Process [%s]'s event loop has not run for %.1f s: no longer answering the supervisor,"
            " which replaces it. The loop's thread is at:\n%s",
            os.getpid(),
            stalled,
            where.rstrip(),
        )

    def _end_as_orphan(self) -> None:
        """The supervisor is gone, and Linux has sent this process SIGTERM: a healthy one is
        stopping on it meanwhile. One still running past its graceful limit (a hung loop) ends."""
        time.sleep((self.config.timeout_graceful_shutdown or 0) + GRACEFUL_MARGIN_SECONDS)
        log.error("Process [%s] outlived its supervisor and did not stop on SIGTERM: ending it", os.getpid())
        logging.shutdown()
        os._exit(1)
