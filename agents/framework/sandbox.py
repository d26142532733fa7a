"""How Temporal's sandbox treats the workflows' own modules: checked for every run, or shared.

`strict` (the default: `make dev`, the tests' workers but in CI's production pass, the replay
tests): the sandbox imports each workflow's module, and the modules it imports that are not
passed through (`workflow.unsafe.imports_passed_through`), afresh for every run, and fails the
run's workflow task on a clock, randomness, the environment or a file read in that code
(RestrictedWorkflowAccessError). That is where an engineer adding an agent meets a mistake,
before it reaches a history. Modules already passed through (gates, signing, the types) were
never checked by it; tests/test_sandbox.py reads those, and every module a shared worker passes
through, for a clock, randomness or the environment on any path.

`shared` (production's default, DEBUG off, so also how a production worker replays a run it
takes over): the packages that hold the served workflows (for the
framework's and the agents' own, `agents`) are imported once by the worker and passed through to
every run's sandbox. The sandbox still runs each run in its own instance and refuses builtins
such as `open`, but no longer refuses a clock or randomness in those modules, and their module
globals are shared by every run: the shared framework keeps none that a run changes
(tests/test_sandbox.py checks both). It saves the sandbox executing the workflow class and its
mixins again for every run, which the gate throughput benchmark measures (README, "Benchmarks").

Whole packages, not only the workflows' modules: the payload converter resolves a dataclass's
type hints (`from __future__ import annotations`) in its module as the sandbox's `sys.modules`
holds it, and the sandbox hands it a host module there only if that module is configured to pass
through (else a decision's `edits: dict[str, Any]` fails with NameError, as the test found).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast, get_args

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Never workflow code's, yet reached on a workflow's thread: the garbage collector runs whatever
# finalizer is due on the thread that allocates, and redis-py's async pool (channels-redis leaves
# one per event loop) imports part of redis in its `__del__`. Passed through, that import finds
# the host's modules, not a fresh copy of the package in the run's sandbox
# (tests/test_sandbox_finalizers.py). So the sandbox never checks redis, even strict: workflow code
# must not import it (tests/test_sandbox.py reads every workflow module for that).
HOST_ONLY = ("redis",)

WorkflowSandbox = Literal["strict", "shared"]
SANDBOXES: tuple[str, ...] = get_args(WorkflowSandbox)  # = contract.SANDBOX_MODES, a test says


def sandbox_named(name: str) -> WorkflowSandbox:
    """`name` as a sandbox mode, or a ValueError that names the ones there are."""
    if name not in SANDBOXES:
        raise ValueError(f"unknown workflow sandbox {name!r}: use one of {', '.join(SANDBOXES)}")
    return cast(WorkflowSandbox, name)


def workflow_runner(sandbox: WorkflowSandbox, workflows: Iterable[type]) -> SandboxedWorkflowRunner:
    """The sandboxed runner for `workflows` in the given mode."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*HOST_ONLY)
    if sandbox == "shared":
        restrictions = restrictions.with_passthrough_modules(*shared_packages(workflows))
    return SandboxedWorkflowRunner(restrictions=restrictions)


def shared_packages(workflows: Iterable[type]) -> list[str]:
    """The top-level packages of the modules that hold `workflows`' code."""
    return sorted({module.partition(".")[0] for module in workflow_modules(workflows)})


def workflow_modules(workflows: Iterable[type]) -> list[str]:
    """The modules that hold the code of `workflows`: each class's own and its bases' (mixins),
    not the SDK's or the standard library's."""
    modules = {
        cls.__module__
        for workflow in workflows
        for cls in workflow.__mro__
        if cls.__module__ not in ("builtins", "typing") and not cls.__module__.startswith("temporalio")
    }
    return sorted(modules)
