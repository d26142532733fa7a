"""The worker sidecar: `python manage.py run_worker [--domain loans ...] [--task-queue Q]`.

One Temporal worker per namespace and task queue of the domains it serves (every domain by
default; see reviewer_portal/domains.py), all in this process; serving every domain, it also runs
the archiving workflow (TEMPORAL_NAMESPACE, ARCHIVE_TASK_QUEUE) that the `audit-archive`
Schedule starts (`--no-archive` leaves that to another sidecar, `--archive-only` is that sidecar).
The archiving workflow signs the chain with the archive's own key (or the portal's, where it has
none): in production run it apart, with that key, and give the agent workers none (they run tool
code). Each worker's client encrypts with its own namespace's keys: a worker started for one
domain holds no other domain's client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
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
from reviewer_portal.trust.archive_key import archive_key_configured, checkpoint_key
from reviewer_portal.trust.keys import signing_key
from reviewer_portal.trust.public_keys import verification_keyring, worker_keyring


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
        parser.add_argument(
            "--archive-only",
            action="store_true",
            help="run only the archiving workflow's worker (the sidecar that holds the signing key)",
        )

    def handle(
        self,
        *args: object,
        task_queue: str,
        domains: list[str] | None,
        threads: int,
        no_archive: bool,
        archive_only: bool = False,
        **options: object,
    ) -> None:
        if archive_only and (no_archive or domains or task_queue):
            raise SystemExit(
                "--archive-only serves no agent: leave out --no-archive, --domain and --task-queue."
            )
        unknown = set(domains or []) - set(AGENTS)
        if unknown:
            raise SystemExit(
                f"Unknown domain(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(AGENTS))}."
            )
        sandbox = sandbox_named(settings.WORKFLOW_SANDBOX)  # checked when the settings were read
        served = [domain_of(name) for name in (domains or sorted(AGENTS))]
        if task_queue:
            served = [replace(domain, task_queue=task_queue) for domain in served]
        groups = {} if archive_only else _grouped(served)
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
        self._check_signing_key(archive=archive, runs_agents=bool(groups))
        keyring = self._keyring() if groups else {}
        unsealed_before = self._unsealed_before()
        strict_archive = "; the archiving workflow's strict" if archive and sandbox != "strict" else ""
        self.stdout.write(f"Worker: workflow sandbox {sandbox} (WORKFLOW_SANDBOX{strict_archive})")
        if archive:
            self.stdout.write(
                f"Worker: namespace {settings.TEMPORAL_NAMESPACE}, task queue {settings.ARCHIVE_TASK_QUEUE}, "
                "the archiving workflow"
            )
        asyncio.run(self._run(groups, threads, archive, sandbox, keyring, unsealed_before))
        # Everything is shut down; the Temporal runtime's threads can still abort the interpreter's
        # own teardown (temporalio/sdk-python#300), so leave without one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _check_signing_key(self, *, archive: bool, runs_agents: bool) -> None:
        """The archiving workflow signs the archive chain with the archive's key, or the portal's
        (the one that signs reviewer actions) where it has none: refuse to run it without either,
        rather than fail every append; and say so when a production worker holds the portal's key
        to archive, or runs agent code with it, where any tool could use it."""
        try:
            signing_key()
            held = True
        except ImproperlyConfigured:  # none set, a file not there, a development key
            held = False
        if archive:
            try:
                checkpoint_key()
            except ImproperlyConfigured as err:
                raise SystemExit(
                    "The archiving workflow signs the archive chain with the archive's key (ARCHIVE_SIGNING_KEY "
                    "or ARCHIVE_SIGNING_KEY_FILE, made by `manage.py signing_key archive-key`), which this "
                    f"process does not hold ({err}). Run it apart, with that key (`run_worker --archive-only`), "
                    "and the agent workers with `--no-archive` and no key."
                ) from err
            try:
                verification_keyring()  # to check the chain before a purge, with public keys only
            except ImproperlyConfigured as err:
                raise SystemExit(str(err)) from err
            if not archive_key_configured() and not settings.DEBUG:
                self.stderr.write(
                    "Warning: the archiving workflow signs the archive chain with the portal's signing key, "
                    "which also signs reviewer actions. Give it a key of its own (`manage.py signing_key "
                    "archive-key --out FILE`, then ARCHIVE_SIGNING_KEY_FILE) and leave the portal's key out."
                )
        if runs_agents and held and not settings.DEBUG:
            self.stderr.write(
                "Warning: this worker runs agent code and holds the portal's signing key, with which any "
                "tool could sign reviewer actions. Give agent workers `--no-archive` and no key, and run "
                "the archiving workflow apart (`run_worker --archive-only`)."
            )

    def _keyring(self) -> dict[str, str]:
        """The portal's public keys, which every signed action must be signed by: loaded once, so
        a new key reaches the workers when they restart (README, "Trust model")."""
        try:
            keyring = worker_keyring()
        except ImproperlyConfigured as err:
            raise SystemExit(str(err)) from err
        self.stdout.write(f"Worker: reviewer actions signed by {', '.join(sorted(keyring))} only")
        return keyring

    def _unsealed_before(self) -> datetime | None:
        """WORKER_UNSEALED_BEFORE, read: what was made before it needs no seal."""
        text = settings.WORKER_UNSEALED_BEFORE
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise SystemExit(f"WORKER_UNSEALED_BEFORE must be an ISO 8601 time with a zone, not {text!r}.")
        self.stdout.write(
            f"Worker: runs created and activities scheduled before {moment.isoformat()} need no seal"
        )
        return moment

    async def _run(
        self,
        groups: dict[tuple[str, str], list[Domain]],
        threads: int,
        archive: bool,
        sandbox: WorkflowSandbox,
        keyring: dict[str, str],
        unsealed_before: datetime | None,
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
                    keyring=keyring,
                    sandbox=sandbox,
                    unsealed_before=unsealed_before,
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
