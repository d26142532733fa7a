"""The workflow sandbox's two modes (agents/framework/sandbox.py).

strict (development, most test passes, the replay tests) re-imports the workflow modules for every
run and fails a clock in them; shared (production, and CI's production pass) imports them once and
passes them to every run, so what it gives up is that check, and what it must never rely on is
module state a run changes.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from temporalio.api.enums.v1 import EventType

from agents.framework.contract import SANDBOX_MODES
from agents.framework.llm import LlmSettings
from agents.framework.registry import AGENTS
from agents.framework.sandbox import SANDBOXES, sandbox_named, shared_packages, workflow_modules
from agents.framework.worker import build_worker
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.trust.public_keys import worker_keyring
from tests import actions
from tests.conftest import DECLINABLE, loan_input, manage_py, production_env, start_loan, wait_for_gate

PROBE = """
from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ClockProbe")
class ClockProbe:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
"""


@pytest.fixture
def clock_probe(tmp_path, monkeypatch) -> Iterator[type]:
    """A workflow that reads the wall clock, in a module of its own on the path."""
    yield from probe_module(tmp_path, monkeypatch, PROBE, "ClockProbe")


def probe_module(tmp_path, monkeypatch, source: str, workflow: str) -> Iterator[type]:
    """The `workflow` class of `source`, imported as a module of its own on the path."""
    name = f"probe_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield getattr(importlib.import_module(name), workflow)
    sys.modules.pop(name, None)


PROBE_WAIT = 30  # seconds: a loaded CI machine


async def task_failures(temporal, handle) -> list[str]:
    """The failures of the run's workflow tasks so far, decoded."""
    failures = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            failures.append(str(await temporal.client.data_converter.decode_failure(failure)))
    return failures


def run_probe(temporal, probe: type, sandbox: str | None, *args: object) -> tuple[str | None, list[str]]:
    """Run the probe (with `args`) on a worker built as the sidecar builds one (with `sandbox`, or
    the default): its result, or the failures of its workflow tasks once one has failed."""
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    spec = replace(AGENTS["loans"], workflows=(probe,))
    options = {} if sandbox is None else {"sandbox": sandbox_named(sandbox)}

    async def go() -> tuple[str | None, list[str]]:
        worker = build_worker(
            temporal.client,
            task_queue=queue,
            agents=[spec],
            llm=LlmSettings(),
            portal_activities=PORTAL_ACTIVITIES,
            executor=temporal.executor,
            keyring=worker_keyring(),
            **options,
        )
        async with worker:
            handle = await temporal.client.start_workflow(
                probe.__temporal_workflow_definition.name,  # type: ignore[attr-defined]
                args=args,
                id=f"probe-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
            # Until it completes, or its first workflow task has failed (retried every ~10 s).
            completing = asyncio.ensure_future(handle.result())
            failures: list[str] = []
            async with asyncio.timeout(PROBE_WAIT):
                while not completing.done() and not failures:
                    await asyncio.wait({completing}, timeout=0.2)
                    failures = await task_failures(temporal, handle)
            if not completing.done():
                completing.cancel()
                await handle.terminate("the probe's task keeps failing")
                return None, failures
            return completing.result(), failures

    return temporal.run(go())


def test_a_clock_in_workflow_code_fails_its_task_in_the_strict_sandbox_which_workers_use_unless_told(
    temporal, clock_probe
):
    for sandbox in (None, "strict"):
        result, failures = run_probe(temporal, clock_probe, sandbox)
        assert result is None, sandbox
        assert failures and "Cannot access datetime.datetime.now" in failures[0], (sandbox, failures)


def test_the_shared_sandbox_runs_the_same_clock_unchecked(temporal, clock_probe):
    """What production gives up for its rate: the check is the strict mode's, in development
    and in the tests, before the code reaches a history."""
    result, failures = run_probe(temporal, clock_probe, "shared")
    assert result is not None and failures == []


def test_an_unknown_sandbox_mode_is_refused_with_the_modes_there_are():
    with pytest.raises(ValueError, match="unknown workflow sandbox 'lenient': use one of strict, shared"):
        sandbox_named("lenient")
    assert SANDBOXES == SANDBOX_MODES  # the type's modes are those the settings accept


def test_the_shared_mode_passes_the_packages_that_hold_the_workflows_and_their_mixins():
    modules = workflow_modules([AgentWorkflow])
    assert "agents.framework.workflow" in modules and "agents.framework.gate_flow" in modules
    assert not any(m.startswith("temporalio") or m == "builtins" for m in modules)
    assert shared_packages(served_workflows()) == ["agents"]


def fingerprint(modules: list[str]) -> dict[str, tuple[int, str | None]]:
    """Each global of `modules`, and each attribute of the classes they define: its identity, and
    for a container or a dataclass instance its contents (a run that appends to a module's list,
    or sets a retry policy's field, changes the second). Not the dunders."""
    seen: dict[str, tuple[int, str | None]] = {}

    def note(name: str, value: object) -> None:
        if name.rpartition(".")[2].startswith("__"):  # the sandbox swaps builtins while it runs
            return
        mutable = isinstance(value, dict | list | set | bytearray)
        instance = dataclasses.is_dataclass(value) and not isinstance(value, type)
        seen[name] = (id(value), repr(value) if mutable or instance else None)

    for module_name in modules:
        module: ModuleType = sys.modules[module_name]
        for name, value in vars(module).items():
            note(f"{module_name}.{name}", value)
            if isinstance(value, type) and value.__module__ == module_name:
                for attribute, inner in vars(value).items():
                    note(f"{module_name}.{name}.{attribute}", inner)
    return seen


def served_workflows() -> list[type]:
    return [AgentWorkflow, *(w for spec in AGENTS.values() for w in spec.workflows)]


def served_workflows_modules() -> list[str]:
    return workflow_modules(served_workflows())


def shared_code_modules() -> list[str]:
    """The modules a shared worker runs workflow code from: the workflows' own and every module
    of ours they import, but those that only the host's side uses (HOST_SIDE)."""
    return sorted(set(imported_agents_modules(served_workflows_modules())) - HOST_SIDE)


# Constants, and the tool registry, filled when their modules are imported and only read by runs
# (the test after the next shows two runs leave them as they were). A new one is a choice to make.
FILLED_AT_IMPORT = {
    "agents.framework.contract.DECISION_STATUS",
    "agents.framework.gates.DECISION_STATUS",
    "agents.framework.llm_types.LOAN_OUTCOMES",
    "agents.framework.run_spec.LOAN_OUTCOMES",
    "agents.framework.types.LOAN_OUTCOMES",
    "agents.framework.tools._JSON_TYPES",
    "agents.framework.tools.TOOLS",
    "agents.support.data.ACCOUNTS",
}


def test_the_modules_every_agent_shares_hold_no_list_dict_or_set_but_those_filled_at_import():
    """Every agent's workflows, and what they import, including those no test runs shared."""
    modules = shared_code_modules()
    assert {"agents.support.workflow", "agents.framework.contract"} <= set(modules)
    containers = {
        f"{module}.{name}"
        for module in modules
        for name, value in vars(sys.modules[module]).items()
        if isinstance(value, dict | list | set | bytearray) and not name.startswith("__")
    }
    assert containers == FILLED_AT_IMPORT


def test_runs_in_the_shared_sandbox_leave_the_modules_they_share_as_they_found_them(
    temporal, transactional_db
):
    """Two loan runs through their gates to their ends, one approved and one declined, with a
    worker in the shared mode: every global of the workflows' modules, and of their classes, is
    the same object with the same contents afterwards, so no run can see another's state."""
    modules = shared_code_modules()
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES, sandbox="shared") as queue:
        before = fingerprint(modules)
        handles = [start_loan(temporal, queue), start_loan(temporal, queue, loan_input(DECLINABLE))]
        for handle, decision in zip(handles, ("approve", "reject"), strict=True):
            gate = wait_for_gate(temporal, handle)
            actions.decide(temporal, handle, gate.gate_id, decision, reason="checked")
        results = [temporal.run(handle.result(), timeout=60) for handle in handles]
        after = fingerprint(modules)

    assert [r.outcome for r in results] == ["approved", "rejected"], results
    changed = sorted(name for name in before if after.get(name) != before[name])
    assert changed == [] and set(after) == set(before)


def test_production_shares_the_modules_and_development_checks_them():
    show = "from django.conf import settings; print(settings.WORKFLOW_SANDBOX)"
    production = production_env(WORKFLOW_SANDBOX=None)  # not CI's production pass's own setting
    assert manage_py("shell", "-v0", "-c", show, env=production).stdout.strip() == "shared"
    development = {**os.environ, "DEBUG": "true"}
    development.pop("WORKFLOW_SANDBOX", None)
    assert manage_py("shell", "-v0", "-c", show, env=development).stdout.strip() == "strict"


# What a shared module may not import: the sandbox no longer refuses their clocks, randomness and
# environment there. The modules below import some of them for the host's side only (the codec's
# keys, the sealed files' and tickets' directories, a ticket draft's name), never in code a
# workflow calls; the test keeps the list honest by requiring each to be among those imported.
NOT_FOR_WORKFLOWS = {
    "time", "random", "uuid", "os", "secrets", "threading", "socket", "subprocess", "httpx",
    "httpx2", "openai", "django", "requests", "urllib", "http", "pathlib", "shutil", "tempfile",
    "redis", "channels_redis",  # passed through even in the strict sandbox (HOST_ONLY): unchecked there
}  # fmt: skip
HOST_SIDE = {"agents.framework.codec", "agents.framework.sealed_files", "agents.support.tools"}
CLOCKS = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}


def imported_agents_modules(start: list[str]) -> dict[str, ast.Module]:
    """`start` and every module of ours they import, directly or through each other, parsed."""
    found: dict[str, ast.Module] = {}
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # a name imported from a module, not a module
            continue
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text())
        found[name] = tree
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.startswith("agents.")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agents."):
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def offences(name: str, tree: ast.Module) -> list[str]:
    """What in the module `tree` a shared worker's sandbox would not refuse and should."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported = [node.module or ""]
        else:
            imported = []
        found += [f"{name} imports {i}" for i in imported if i.split(".")[0] in NOT_FOR_WORKFLOWS]
        # Called or not: `field(default_factory=datetime.now)` reads the clock too.
        if isinstance(node, ast.Attribute) and node.attr in CLOCKS and ast.unparse(node) != "workflow.now":
            found.append(f"{name} reads {ast.unparse(node)}")
    return found


def test_the_shared_modules_import_no_clock_randomness_or_environment_on_any_path():
    """The strict sandbox checks the paths the tests run; this checks every line of the modules a
    shared worker passes through, those a workflow's code runs in, tested or not. (Not what a
    line reaches indirectly, nor `hash()` order: sets here are only asked or sorted.)"""
    modules = imported_agents_modules(served_workflows_modules())
    assert set(modules) >= HOST_SIDE  # each exception still imported, or it goes from the list
    found = [o for name, tree in modules.items() if name not in HOST_SIDE for o in offences(name, tree)]
    assert found == []


@pytest.mark.parametrize(
    "value",
    ["off", "Shared", "shared\u200b", "\uff53\uff48\uff41\uff52\uff45\uff44", "strict;shared", "x" * 10_000],
    ids=["unknown", "capitalised", "zero-width-space", "fullwidth", "two", "oversize"],
)
def test_an_odd_sandbox_mode_is_refused_when_the_settings_are_read_and_nothing_runs(value):
    """A mode that only looks like one (another case, a hidden or full-width letter) is neither
    taken for it nor quietly read as the default: every process refuses to start, naming the
    setting, before it could serve a run."""
    checked = manage_py("check", env={**os.environ, "WORKFLOW_SANDBOX": value})
    assert checked.returncode != 0
    assert "WORKFLOW_SANDBOX must be strict or shared, not " in checked.stderr
    assert len(checked.stderr) < 20_000 + 5_000  # the value once, not echoed without end
