"""A `serve_portal` process that answers its supervisor's ping only while its event loop runs.

uvicorn's supervisor pings each process every half second, and a thread of the process answers.
That thread goes on answering when the event loop itself hangs (a library call that never
returns, a deadlock), so a hung process kept its socket, and the share of new connections the
kernel sends that socket, while it served nothing. Here the server notes the time at each tick of
its main loop (every 0.1 s, on the event loop). Once the loop has not ticked for `stall_seconds`,
the answering thread asks the loop for a sign of life (a process that was paused whole, by
SIGSTOP or a frozen container, gives one at once), and without one logs where the loop's thread
is stuck and stays silent: the supervisor's ping times out, and it replaces the process on the
same socket.

A process that is stopping (SIGTERM) is given its graceful limit and GRACEFUL_MARGIN_SECONDS more
before it counts as stalled, and then counts as stuck even with its loop running (it waits on a
thread that does not end). One that never starts serving is the supervisor's to see to
(operations/supervisor.py, READY_SECONDS).

The same thread ends a process its supervisor left behind. Linux sends each process SIGTERM when
the supervisor dies (operations/served_app.py), but a hung loop never acts on it and would hold
the port for ever: a process still running GRACEFUL_MARGIN_SECONDS past its graceful limit after
the supervisor died ends itself.

Written against uvicorn 0.54 (pinned in requirements.txt): it overrides the private
`Process._healthcheck` to drop answers to pings that had timed out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
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
# The portal's own longest wait in a request (START_WAIT_SECONDS, 15 s) ends within the graceful
# limit, since a stopping process takes no new requests.
GRACEFUL_MARGIN_SECONDS = 5
# How often the answering thread, between pings, looks whether its supervisor is still there.
ORPHAN_CHECK_SECONDS = 1.0
# How long a loop that has not ticked for the stall limit has to run a callback before it counts
# as hung.
SIGN_OF_LIFE_SECONDS = 2.0


class TickingServer(Server):
    """uvicorn's server, noting when its main loop last ticked, and on which loop."""

    last_tick: float | None = None  # None until it serves
    loop: asyncio.AbstractEventLoop | None = None
    stopping_since: float | None = None  # when the answering thread first saw it stopping

    async def on_tick(self, counter: int) -> bool:
        self.last_tick = time.monotonic()
        self.loop = self.loop or asyncio.get_running_loop()
        return await super().on_tick(counter)

    def stalled_for(self, graceful_seconds: float) -> float:
        """Seconds the loop has been stuck: since its last tick, or, once it is stopping, since
        its graceful limit and margin ran out; 0 before it serves."""
        now = time.monotonic()
        if self.should_exit:
            self.stopping_since = self.stopping_since or now
            return max(0.0, now - self.stopping_since - graceful_seconds - GRACEFUL_MARGIN_SECONDS)
        if self.last_tick is None:
            return 0.0
        return now - self.last_tick

    def shows_life(self) -> bool:
        """Whether the loop runs a callback within SIGN_OF_LIFE_SECONDS."""
        if self.loop is None:
            return False
        alive = threading.Event()
        try:
            self.loop.call_soon_threadsafe(alive.set)
        except RuntimeError:  # the loop is closed: the process is ending
            return False
        return alive.wait(SIGN_OF_LIFE_SECONDS)


class WatchedProcess(Process):
    """A serving process that stops answering its supervisor once its loop has stalled."""

    def __init__(self, config: Config, sockets: list[socket.socket], stall_seconds: float) -> None:
        super().__init__(config, sockets)
        self.stall_seconds = stall_seconds
        self.supervisor = os.getpid()  # made in the supervisor, run in the new process
        self.started_at = time.monotonic()  # the supervisor's clock, for READY_SECONDS
        self.answered = False  # the supervisor's: has it answered a ping yet
        self.loop_thread: int | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = TickingServer(config=self.config)
        return self._server

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the new process
        self.loop_thread = threading.get_ident()
        _ = self.server  # made here, before the answering thread could make one of its own
        super().target(sockets)

    def health(self, timeout: float) -> bool | None:
        """True if it serves, False if it is still starting, None if it died or did not answer."""
        return self._healthcheck(timeout) if self.process.is_alive() else None

    def starting_for(self) -> float:
        return time.monotonic() - self.started_at

    def _healthcheck(self, timeout: float) -> bool | None:
        """uvicorn's, without answers to earlier pings that had timed out: each would otherwise
        stand in for a later ping's answer, hiding a silent one."""
        try:
            while self.parent_conn.poll():
                self.parent_conn.recv()
        except (OSError, EOFError, pickle.UnpicklingError):
            return None
        return super()._healthcheck(timeout)

    def pong(self) -> None:
        while not self.child_conn.poll(ORPHAN_CHECK_SECONDS):
            if os.getppid() != self.supervisor:
                self._end_as_orphan()
        self.child_conn.recv()
        server = self.server
        if isinstance(server, TickingServer):
            stalled = server.stalled_for(self.config.timeout_graceful_shutdown or 0)
            # Stopping that long, it is stuck whether or not its loop runs (a thread it waits for).
            if stalled > self.stall_seconds and (server.should_exit or not server.shows_life()):
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
        stopping on it meanwhile. One still running past its graceful limit (a hung loop) ends.
        Its last words go straight to stderr, from a thread it does not wait long for: the hung
        loop may hold the logging lock, or be stuck writing to a full pipe itself."""
        time.sleep((self.config.timeout_graceful_shutdown or 0) + GRACEFUL_MARGIN_SECONDS)
        message = f"Process [{os.getpid()}] outlived its supervisor and did not stop on SIGTERM: ending it\n"
        writer = threading.Thread(target=os.write, args=(2, message.encode()), daemon=True)
        writer.start()
        writer.join(1.0)
        os._exit(1)
