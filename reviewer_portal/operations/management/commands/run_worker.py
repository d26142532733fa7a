"""The worker sidecar: `python manage.py run_worker [--domain loans ...] [--task-queue Q]`.

One Temporal worker per namespace and task queue of the domains it serves (every domain by
default; see reviewer_portal/domains.py), all in this process; serving every domain, it also runs
the archiving workflow (TEMPORAL_NAMESPACE, ARCHIVE_TASK_QUEUE) that the `audit-archive`
Schedule starts (`--no-archive` leaves that to another sidecar). Each worker's client encrypts with
its own namespace's keys: a worker started for one domain holds no other domain's client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from agents.framework.llm import LlmSettings
from agents.framework.registry import AGENTS
from agents.framework.sandbox import WorkflowSandbox, sandbox_named
from agents.framework.worker import GRACEFUL_SHUTDOWN, build_worker, run_worker
from reviewer_portal.archive.worker import archive_worker
from reviewer_portal.domains import Domain, domain_of
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES, wait_for_openings
from reviewer_portal.live.broadcast import wait_for_pushes
from reviewer_portal.temporal_client import connect


class Command(BaseCommand):
    help = "Run the Temporal worker sidecar for the registered agents."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--task-queue", default="", help="serve this task queue instead of the domains' own (tests)"
        )
        parser.add_argument(
            "--domain", action="append", dest="domains", help="agent(s) to serve; default all"
        )
        parser.add_argument("--threads", type=int, default=8, help="thread pool for sync activities")
        parser.add_argument(
            "--no-archive", action="store_true", help="do not run the archiving workflow's worker"
        )

    def handle(
        self,
        *args: object,
        task_queue: str,
        domains: list[str] | None,
        threads: int,
        no_archive: bool,
        **options: object,
    ) -> None:
        unknown = set(domains or []) - set(AGENTS)
        if unknown:
            raise SystemExit(
                f"Unknown domain(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(AGENTS))}."
            )
        sandbox = sandbox_named(settings.WORKFLOW_SANDBOX)  # checked when the settings were read
        served = [domain_of(name) for name in (domains or sorted(AGENTS))]
        if task_queue:
            served = [replace(domain, task_queue=task_queue) for domain in served]
        groups = _grouped(served)
        for (namespace, queue), group in groups.items():
            keys = {settings.AGENT_OPENAI_API_KEYS.get(d.agent, settings.OPENAI_API_KEY) for d in group}
            if len(keys) > 1:
                raise SystemExit(
                    f"Agents {', '.join(d.agent for d in group)} share task queue {queue} but not a provider "
                    "key: give an agent with a key of its own a task queue of its own (AGENT_DOMAINS)."
                )
            llm = _llm_settings(group[0].agent)
            provider = "offline model" if llm.offline else (settings.OPENAI_BASE_URL or "OpenAI")
            self.stdout.write(
                f"Worker: Temporal {settings.TEMPORAL_ADDRESS} namespace {namespace}, task queue {queue}, "
                f"agents {', '.join(d.agent for d in group)}, LLM {provider}"
            )
        archive = not (no_archive or domains or task_queue)
        strict_archive = "; the archiving workflow's strict" if archive and sandbox != "strict" else ""
        self.stdout.write(f"Worker: workflow sandbox {sandbox} (WORKFLOW_SANDBOX{strict_archive})")
        if archive:
            self.stdout.write(
                f"Worker: namespace {settings.TEMPORAL_NAMESPACE}, task queue {settings.ARCHIVE_TASK_QUEUE}, "
                "the archiving workflow"
            )
        asyncio.run(self._run(groups, threads, archive, sandbox))
        # Everything is shut down; the Temporal runtime's threads can still abort the interpreter's
        # own teardown (temporalio/sdk-python#300), so leave without one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    async def _run(
        self,
        groups: dict[tuple[str, str], list[Domain]],
        threads: int,
        archive: bool,
        sandbox: WorkflowSandbox,
    ) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with ThreadPoolExecutor(max_workers=threads) as executor:
            workers = [
                build_worker(
                    await connect(namespace),
                    task_queue=queue,
                    agents=[AGENTS[d.agent] for d in group],
                    llm=_llm_settings(group[0].agent),
                    portal_activities=PORTAL_ACTIVITIES,
                    executor=executor,
                    sandbox=sandbox,
                )
                for (namespace, queue), group in groups.items()
            ]
            if archive:
                workers.append(archive_worker(await connect(), executor=executor))
            await asyncio.gather(*(run_worker(worker, stop) for worker in workers))
        # The process ends with os._exit: openings still being written, and the live pushes they
        # set off, get the graceful shutdown's time to finish first.
        await asyncio.to_thread(wait_for_openings, GRACEFUL_SHUTDOWN.total_seconds())
        await asyncio.to_thread(wait_for_pushes)
        self.stdout.write("Worker stopped cleanly.")


def _llm_settings(agent: str) -> LlmSettings:
    """The provider settings of the worker serving `agent`: its own key where it has one."""
    return LlmSettings(
        api_key=settings.AGENT_OPENAI_API_KEYS.get(agent, settings.OPENAI_API_KEY),
        base_url=settings.OPENAI_BASE_URL,
        max_retry_after_seconds=settings.OPENAI_MAX_RETRY_AFTER_SECONDS,
        request_timeout_seconds=settings.OPENAI_TIMEOUT_SECONDS,
    )


def _grouped(domains: list[Domain]) -> dict[tuple[str, str], list[Domain]]:
    """Domains sharing a namespace and task queue are served by one worker."""
    groups: dict[tuple[str, str], list[Domain]] = {}
    for domain in domains:
        groups.setdefault((domain.namespace, domain.task_queue), []).append(domain)
    return groups
