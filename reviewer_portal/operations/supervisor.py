"""The supervisor of `serve_portal`'s processes: uvicorn's, but each process accepts connections
on a listening socket of its own.

With one socket shared by every process, whichever process wakes first accepts a whole burst of
connections: 20 connections opened one after another went 19 to one process and 1 to the other,
and kept-alive connections stay where they were accepted, so one process could serve a team while
the other idled. Here the sockets are bound to the one port with SO_REUSEPORT, and the kernel
spreads new connections across them by a hash of their addresses. The sockets listen before any
process starts (reviewer_portal.operations.listener), and the supervisor keeps them open: a
connection that reaches the socket of a process still starting, or being restarted, waits for it
rather than being refused.

A process whose event loop hangs stops answering the supervisor's ping and is replaced too
(reviewer_portal/operations/watched_process.py), and a stop does not wait on one: a process still
running GRACEFUL_MARGIN_SECONDS after its own graceful limit is killed.

Only sockets of the same user may join the port (Linux), and the number of processes is fixed
for the supervisor's life: SIGTTIN and SIGTTOU, which would add or remove one, are refused.
"""

from __future__ import annotations

import logging
import signal
import socket
import time

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess

from reviewer_portal.operations.watched_process import GRACEFUL_MARGIN_SECONDS, WatchedProcess

log = logging.getLogger("uvicorn.error")
# How long a new process has to start serving: a SIGHUP's successor before the old one is kept
# instead, any other before it is replaced. Loading the portal takes seconds on a loaded machine,
# and uvicorn's 5 s (still its ping's timeout) made SIGHUP give up.
READY_SECONDS = 30
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Supervisor(Multiprocess):
    """`config.workers` processes, the process of slot n serving `listeners[n]` alone."""

    def __init__(self, config: Config, listeners: list[socket.socket], stall_seconds: float) -> None:
        super().__init__(config, sockets=listeners)
        self.listeners = listeners
        self.stall_seconds = stall_seconds
        self.processes: list[WatchedProcess] = []  # type: ignore[assignment]

    def init_processes(self) -> None:
        self.processes = [self._started(slot) for slot in range(len(self.listeners))]

    def _started(self, slot: int) -> WatchedProcess:
        process = WatchedProcess(self.config, [self.listeners[slot]], self.stall_seconds)
        process.start()
        return process

    def keep_subprocess_alive(self) -> None:
        """A process that died, stopped answering, or has not started serving within
        READY_SECONDS is replaced on its slot's socket; one that could not load the portal stops
        the supervisor instead (it would fail again)."""
        for slot, process in enumerate(self.processes):
            if self._stop_asked():
                return
            answer = process.health(self.config.timeout_worker_healthcheck)
            if answer is not None:
                process.answered = True
            if answer:
                continue
            # Starting: it says so, or, slower to spawn than a ping's timeout, has not yet answered.
            starting = answer is False or (process.process.is_alive() and not process.answered)
            if starting and process.starting_for() < READY_SECONDS:
                continue
            if starting:
                reason = f"did not start serving in {READY_SECONDS} s"
            else:
                reason = "stopped answering" if process.process.is_alive() else "died"
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            log.info("Child process [%s] %s; starting another on its socket", process.pid, reason)
            self.processes[slot] = self._started(slot)

    def restart_all(self) -> None:
        """SIGHUP: each slot's successor starts and answers before its process is stopped, so
        every socket is served throughout."""
        for slot, old in enumerate(self.processes):
            if self._stop_asked():
                return
            new = self._started(slot)
            if not self._serves_in_time(new):
                if self._stop_asked():  # it may have begun to serve: let it stop as the others
                    new.terminate()
                    self._wait_stopped([new])
                    return
                new.kill()
                new.join()
                log.error("Process [%s] was not ready in time; keeping [%s]", new.pid, old.pid)
                return
            old.terminate()
            self._wait_stopped([old])
            self.processes[slot] = new

    def _stop_asked(self) -> bool:
        """Whether SIGINT or SIGTERM came: signals wait in a queue while a restart runs, and a
        stop must not wait for every slot's successor (30 s each) first."""
        return self.should_exit.is_set() or any(sig in STOP_SIGNALS for sig in self.signal_queue)

    def _serves_in_time(self, process: WatchedProcess) -> bool:
        """uvicorn's wait_until_ready, given up on a stop asked for meanwhile, each ping given
        the health check's whole timeout (an answer later than that is dropped as stale)."""
        while process.starting_for() < READY_SECONDS and not self._stop_asked():
            if not process.process.is_alive():
                return False
            if process.health(self.config.timeout_worker_healthcheck):
                return True
            time.sleep(0.1)
        return False

    def join_all(self) -> None:
        self._wait_stopped(self.processes)

    def _wait_stopped(self, processes: list[WatchedProcess]) -> None:
        """Waits for processes sent SIGTERM, killing any still running past its graceful limit
        and GRACEFUL_MARGIN_SECONDS (a hung loop never stops on SIGTERM)."""
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0) + GRACEFUL_MARGIN_SECONDS
        for process in processes:
            process.process.join(max(0.0, deadline - time.monotonic()))
            if process.process.is_alive():
                log.error("Child process [%s] did not stop in time; killing it", process.pid)
                process.kill()
            process.join()

    def handle_ttin(self) -> None:
        _refuse("SIGTTIN")

    def handle_ttou(self) -> None:
        _refuse("SIGTTOU")


def _refuse(signal_name: str) -> None:
    log.warning("Received %s: serve_portal keeps its --processes; restart it to change them", signal_name)
