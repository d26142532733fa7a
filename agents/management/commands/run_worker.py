"""The worker sidecar: `python manage.py run_worker [--task-queue Q] [--domain loans ...]`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from agents.framework.llm import LlmSettings
from agents.framework.registry import AGENTS
from agents.framework.worker import build_worker, run_worker
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import connect


class Command(BaseCommand):
    help = "Run the Temporal worker sidecar for the registered agents."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task-queue", default=settings.TEMPORAL_TASK_QUEUE)
        parser.add_argument(
            "--domain", action="append", dest="domains", help="agent(s) to serve; default all"
        )
        parser.add_argument("--threads", type=int, default=8, help="thread pool for sync activities")

    def handle(
        self, *args: object, task_queue: str, domains: list[str] | None, threads: int, **options: object
    ) -> None:
        unknown = set(domains or []) - set(AGENTS)
        if unknown:
            raise SystemExit(
                f"Unknown domain(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(AGENTS))}."
            )
        agents = [AGENTS[name] for name in (domains or sorted(AGENTS))]
        llm = LlmSettings(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            max_retry_after_seconds=settings.OPENAI_MAX_RETRY_AFTER_SECONDS,
            request_timeout_seconds=settings.OPENAI_TIMEOUT_SECONDS,
        )
        provider = "offline model" if llm.offline else (settings.OPENAI_BASE_URL or "OpenAI")
        self.stdout.write(
            f"Worker: Temporal {settings.TEMPORAL_ADDRESS} namespace {settings.TEMPORAL_NAMESPACE}, "
            f"task queue {task_queue}, agents {', '.join(a.name for a in agents)}, LLM {provider}"
        )
        asyncio.run(self._run(task_queue, agents, llm, threads))
        # Everything is shut down; the Temporal runtime's threads can still abort the interpreter's
        # own teardown (temporalio/sdk-python#300), so leave without one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    async def _run(self, task_queue: str, agents: list, llm: LlmSettings, threads: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        client = await connect()
        with ThreadPoolExecutor(max_workers=threads) as executor:
            worker = build_worker(
                client,
                task_queue=task_queue,
                agents=agents,
                llm=llm,
                portal_activities=PORTAL_ACTIVITIES,
                executor=executor,
            )
            await run_worker(worker, stop)
        self.stdout.write("Worker stopped cleanly.")
