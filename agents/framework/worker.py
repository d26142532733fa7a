"""Build and run a worker for the registered agents; the sidecar command and tests share it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from agents.framework.bytecode import compile_workflow_modules
from agents.framework.codec import EncryptionCodec
from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.llm import LlmActivities, LlmSettings
from agents.framework.registry import AgentSpec
from agents.framework.result_store import forget_sealed_results, open_sealed_results, seal_results
from agents.framework.run_checks import RunChecks
from agents.framework.sandbox import WorkflowSandbox, workflow_runner
from agents.framework.seals import SealKeys
from agents.framework.summarise import SummariseActivities
from agents.framework.worker_keyring import WorkerKeyring
from agents.framework.workflow import AgentWorkflow

log = logging.getLogger(__name__)

# In-flight activities get this long to finish after SIGTERM before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)
# Local activities run on the worker whose workflow task schedules them, never on another worker
# of the queue: the shared workflow's must be on every worker that runs it.
LOCAL_ACTIVITIES = (PUBLISH_LOCAL_ACTIVITY,)


def build_worker(
    client: Client,
    *,
    task_queue: str,
    agents: Iterable[AgentSpec],
    llm: LlmSettings,
    portal_activities: Sequence[Callable[..., Any]],
    executor: ThreadPoolExecutor,
    keyring: Mapping[str, str] | None,
    sandbox: WorkflowSandbox = "strict",
    workflows: Sequence[type] = (),
    unsealed_before: datetime | None = None,
) -> Worker:
    """A worker serving the shared workflow, the LLM activity and every listed agent's tools and
    own `workflows` (AgentSpec.workflows).

    `portal_activities` are the sync activities that write the portal's projection; they run on
    `executor`, a thread pool, because they use the Django ORM. The workflows' modules get their
    bytecode first (agents.framework.bytecode). `sandbox` is how the sandbox treats those modules
    (agents.framework.sandbox): strict unless the caller says otherwise. `keyring` is the portal's
    published public keys, key id to key: a run whose start the portal did not sign with one of
    them, and a signed action by any other key, are refused (agents.framework.worker_keyring).
    None checks neither: a worker of the framework alone, for its benchmarks; every worker that
    serves the portal's runs is given the portal's keyring (run_worker). With a keyring, runs,
    continuations and activities are also sealed and checked with keys derived from the client's
    payload keys (agents.framework.seals); `unsealed_before` lets what was made before it go on
    unsealed (a rollout).
    `workflows` are served beside the agents' (the tests').
    """
    activities: list[Callable[..., Any]] = [
        LlmActivities(llm).complete,
        SummariseActivities(llm).summarise,
        seal_results,
        open_sealed_results,
        forget_sealed_results,
        *portal_activities,
    ]
    served: list[type] = [AgentWorkflow, *workflows]
    for spec in agents:
        activities.extend(spec.activities)
        served.extend(w for w in spec.workflows if w not in served)
    _require_local_activities(activities)
    compile_workflow_modules(served)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=served,
        activities=activities,
        activity_executor=executor,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=workflow_runner(sandbox, served),
        interceptors=[_keyring_interceptor(client, keyring, unsealed_before)] if keyring is not None else [],
    )


def _keyring_interceptor(
    client: Client, keyring: Mapping[str, str], unsealed_before: datetime | None
) -> WorkerKeyring:
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        raise ValueError(
            "a worker of the portal's runs checks seals made with keys derived from its payload keys: "
            "connect its client with the portal's data converter (payloads encrypted)"
        )
    seals = SealKeys.derived_from(codec.keys, codec.namespace)
    return WorkerKeyring(RunChecks(keyring, seals, unsealed_before))


def _require_local_activities(activities: Sequence[Callable[..., Any]]) -> None:
    """Refuse a worker without the shared workflow's local activities: the SDK fails, as a
    workflow task, each local activity it cannot find, so every gate's opening would fail and be
    retried without end, each run stuck unseen before its gate."""
    names = {activity._Definition.must_from_callable(fn).name for fn in activities}
    if missing := [name for name in LOCAL_ACTIVITIES if name not in names]:
        raise ValueError(
            f"a worker of the shared workflow needs the local activities {missing}: "
            "pass the portal's PORTAL_ACTIVITIES (or stand-ins of those names) as portal_activities"
        )


async def run_worker(worker: Worker, stop: asyncio.Event) -> None:
    """Run `worker` until `stop` is set, then shut down gracefully."""
    async with worker:
        log.info("worker serving task queue %s", worker.task_queue)
        await stop.wait()
        log.info("worker stopping: letting in-flight activities finish")
    log.info("worker stopped")
