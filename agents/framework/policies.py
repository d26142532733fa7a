"""How long each kind of activity may take and how it is retried: one named constant each, so
every `execute_activity` in the framework says which policy it follows."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# The model: a few attempts with backoff; a 429's Retry-After overrides the interval per attempt.
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)
LLM_START_TO_CLOSE = timedelta(seconds=90)
# The LLM activities heartbeat while waiting on the provider: a dead worker is noticed this fast.
LLM_HEARTBEAT = timedelta(seconds=15)
LLM_SCHEDULE_TO_CLOSE = timedelta(minutes=10)

# Tools: retried a few times; a tool that keeps failing becomes an error result the model sees.
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=3,
)
TOOL_START_TO_CLOSE = timedelta(seconds=30)
TOOL_HEARTBEAT = timedelta(seconds=10)

# The projection must catch up eventually, so publishing retries without an attempt limit.
PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PUBLISH_START_TO_CLOSE = timedelta(seconds=15)
# The same publish first as a local activity: a few quick tries within the workflow task, then
# the task above, which waits out a long outage without holding the workflow task open.
LOCAL_PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
LOCAL_PUBLISH_START_TO_CLOSE = timedelta(seconds=5)
LOCAL_PUBLISH_SCHEDULE_TO_CLOSE = timedelta(seconds=8)

# Notices are helpful, not essential: a few tries, then the run goes on without.
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=4)
NOTIFY_START_TO_CLOSE = timedelta(seconds=30)

# A decided action (issue the offer, send the notice) must happen: retry for up to a day.
ACTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
ACTION_START_TO_CLOSE = timedelta(minutes=2)
ACTION_SCHEDULE_TO_CLOSE = timedelta(days=1)

# Preparing the case (e.g. reading an uploaded document): a worker lost mid-way is retried; the
# step bounds its own work, so a failure it reports is final.
PREPARE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
PREPARE_START_TO_CLOSE = timedelta(minutes=2)

# Sealing a long loop's oldest results beside history: tried for ten minutes, then the run carries
# them unsealed. Opening them: a store or key not reachable yet (a volume still mounting) is
# retried until it is; an altered chunk fails at once (result_store).
SEALED_RESULTS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
SEALED_RESULTS_START_TO_CLOSE = timedelta(seconds=30)
SEAL_RESULTS_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
# Deleting them once opened: a few tries, then they stay (the run goes on; the store keeps them).
FORGET_RESULTS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
