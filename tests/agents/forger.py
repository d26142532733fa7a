"""A workflow that is not an agent and calls one of the portal's publish activities with a gate of its
choosing: what anyone who may start workflows in a namespace the portal's worker serves can do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError


@workflow.defn(name="GateForger")
class GateForger:
    @workflow.run
    async def run(
        self, publication: dict[str, Any], task_queue: str, activity: str = "publish_gate_change"
    ) -> str:
        try:
            published = await workflow.execute_activity(
                activity,
                publication,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return f"refused: {err.cause}"
        return f"published: {published}"
