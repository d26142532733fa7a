"""Serve the portal in production: `python manage.py serve_portal [--host H] [--port P]
[--processes N] [--forwarded-allow-ips IPS]`, N uvicorn processes on one port, each serving HTTP
and the WebSocket.

What `uvicorn --workers N` does, with five differences:
- uvicorn makes the shared listening socket without naming its protocol, so asyncio, which turns
  Nagle's algorithm off only on sockets that say they are TCP, leaves it on, and every request
  after the first on a kept-alive connection waits for the client's delayed ACK, about 40 ms on
  Linux (uvicorn issue 3149). The socket here says it is TCP (reviewer_portal/operations/listener.py).
- Each process accepts on a socket of its own, all on the one port (SO_REUSEPORT), so the kernel
  spreads connections across the processes (reviewer_portal/operations/supervisor.py).
- The processes end with the supervisor, even one killed outright (operations/served_app.py).
- A process whose event loop hangs is replaced, and a stop does not wait on it
  (operations/watched_process.py).
- A stop lets requests finish for at most PORTAL_GRACEFUL_SECONDS: a client that never finishes
  sending its request cannot hold a deploy, and a supervisor that could not start its processes
  exits 3.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewer_portal.operations.listener import tcp_listeners, url_of

PORTAL_APP = "reviewer_portal.asgi:application"
# What each serving process runs (operations/served_app.py: not imported here, since importing it
# loads the application, which the supervisor never serves), and what it reads from the
# environment: the application to load and the supervisor's pid.
SERVED_APP = "reviewer_portal.operations.served_app:application"
APP = "SERVE_PORTAL_APP"
SUPERVISOR = "SERVE_PORTAL_SUPERVISOR"

# Longer than a load balancer's usual idle timeout (60 s), so the balancer closes first, never us.
KEEP_ALIVE_SECONDS = 75
# The live-updates socket's browsers send nothing: a frame larger than this closes the socket.
WS_MAX_BYTES = 4096
# The event loop each serving process runs, the first by default: uvloop's (libuv, in C) spends
# less CPU per request than asyncio's own (benchmarks/portal_load.py --loops asyncio,uvloop).
LOOPS = ("uvloop", "asyncio")
# The loop ticks every 0.1 s; a shorter stall limit would replace processes paused by a busy machine.
MIN_STALL_SECONDS = 1
# Proxies named by a network wider than this (a /8 of IPv4, a /32 of IPv6) are everyone's.
WIDEST_PROXY_NETWORK = {4: 8, 6: 32}


class Command(BaseCommand):
    help = "Serve the portal (HTTP and WebSocket) with N uvicorn processes on one port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="the address the TLS proxy reaches")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--processes", type=int, default=2, help="one or two per core")
        parser.add_argument(
            "--forwarded-allow-ips",
            default="127.0.0.1",
            help="the TLS proxies whose X-Forwarded-For and -Proto are believed, comma-separated",
        )
        parser.add_argument(
            "--app", default=PORTAL_APP, help="the ASGI application (benchmarks compare others)"
        )
        parser.add_argument(
            "--loop",
            choices=LOOPS,
            default=LOOPS[0],
            help="each process's event loop: uvloop (less CPU per request) or the standard asyncio",
        )

    def handle(self, *args: object, **options: object) -> None:
        import uvicorn
        from uvicorn.config import STARTUP_FAILURE

        from reviewer_portal.operations.supervisor import Supervisor

        processes = int(str(options["processes"]))
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        stall_seconds = settings.PORTAL_LOOP_STALL_SECONDS
        if stall_seconds < MIN_STALL_SECONDS:
            raise CommandError(
                f"PORTAL_LOOP_STALL_SECONDS must be at least {MIN_STALL_SECONDS} second:"
                " healthy processes would be replaced whenever their loop paused"
            )
        graceful_seconds = settings.PORTAL_GRACEFUL_SECONDS
        if graceful_seconds < 1:
            raise CommandError("PORTAL_GRACEFUL_SECONDS must be at least 1 second")
        longest_wait = max(settings.START_WAIT_SECONDS, settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        if graceful_seconds < longest_wait:
            self.stderr.write(
                f"Warning: PORTAL_GRACEFUL_SECONDS ({graceful_seconds}) is shorter than the longest a"
                f" request waits on Temporal ({longest_wait:g} s: START_WAIT_SECONDS,"
                " TEMPORAL_UPDATE_TIMEOUT_SECONDS); a stop may cut such a request off. What it"
                " carried is kept: the delivery loop sends the decision or starts the submission."
            )
        proxies = str(options["forwarded_allow_ips"])
        if trusts_everyone(proxies):
            raise CommandError(
                f"--forwarded-allow-ips {proxies!r} would believe the X-Forwarded-For any client"
                " writes (and lock out whom it names): name the proxies' addresses"
            )
        config = uvicorn.Config(
            SERVED_APP,
            host=str(options["host"]),
            port=int(str(options["port"])),
            workers=processes,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=graceful_seconds,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=proxies,
            lifespan="off",
            ws_max_size=WS_MAX_BYTES,
            loop=str(options["loop"]),
        )
        try:
            listeners = tcp_listeners(config.host, config.port, processes, config.backlog)
        except OSError as error:
            raise CommandError(f"Cannot listen on {config.host}:{config.port}: {error.strerror}") from error
        os.environ[SUPERVISOR] = str(os.getpid())
        os.environ[APP] = str(options["app"])
        self.stdout.write(f"Serving the portal on {url_of(listeners[0])} with {processes} process(es)")
        self.stdout.flush()
        supervisor = Supervisor(config, listeners, stall_seconds)
        supervisor.run()
        if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
            sys.exit(STARTUP_FAILURE)


def trusts_everyone(proxies: str) -> bool:
    """Whether --forwarded-allow-ips names no proxies but whole swathes of the internet: '*', or a
    network as wide as 0.0.0.0/0 (uvicorn takes networks too)."""
    for entry in (part.strip() for part in proxies.split(",")):
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # a host name or a socket path: not a network
        if network.prefixlen < WIDEST_PROXY_NETWORK[network.version]:
            return True
    return False
