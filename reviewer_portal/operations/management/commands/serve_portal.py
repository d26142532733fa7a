"""Serve the portal in production: `python manage.py serve_portal [--host H] [--port P]
[--processes N] [--forwarded-allow-ips IPS]`, N uvicorn processes on one port, each serving HTTP
and the WebSocket.

What `uvicorn --workers N` does, with one difference: uvicorn makes the shared listening socket
without naming its protocol, so asyncio, which turns Nagle's algorithm off only on sockets that say
they are TCP, leaves it on, and every request after the first on a kept-alive connection waits for
the client's delayed ACK, about 40 ms on Linux (uvicorn issue 3149; daphne and a single uvicorn
process are not affected). The socket here says it is TCP (reviewer_portal/operations/listener.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from reviewer_portal.operations.listener import tcp_listener

APP = "reviewer_portal.asgi:application"


class Command(BaseCommand):
    help = "Serve the portal (HTTP and WebSocket) with N uvicorn processes on one port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--processes", type=int, default=2, help="one or two per core")
        parser.add_argument("--app", default=APP, help="the ASGI application (benchmarks compare others)")
        parser.add_argument(
            "--forwarded-allow-ips",
            default="127.0.0.1",
            help="the TLS proxies whose X-Forwarded-Proto and -For are believed (comma-separated, or *)",
        )

    def handle(self, *args: object, **options: object) -> None:
        import uvicorn
        from uvicorn.supervisors import Multiprocess

        processes = int(str(options["processes"]))
        if processes < 1:
            raise SystemExit("--processes must be at least 1")
        config = uvicorn.Config(
            str(options["app"]),
            host=str(options["host"]),
            port=int(str(options["port"])),
            workers=processes,
            # Longer than a load balancer's idle timeout, so the balancer closes first, never us.
            timeout_keep_alive=75,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=str(options["forwarded_allow_ips"]),
            lifespan="off",
        )
        listener = tcp_listener(config.host, config.port)
        host, port = listener.getsockname()[:2]
        self.stdout.write(
            f"Serving the portal on http://{host}:{port} with {processes} process(es)", ending="\n"
        )
        self.stdout.flush()
        if processes == 1:
            uvicorn.Server(config).run(sockets=[listener])
        else:
            Multiprocess(config, sockets=[listener]).run()
