"""The workflow modules' bytecode, which the worker writes at start (agents.framework.bytecode).

Temporal's sandbox imports a workflow's module again for every run (its `create_instance`, run
here through the real SandboxedWorkflowRunner). Where PYTHONDONTWRITEBYTECODE is set, as on this
machine and in many container images, Python never writes the bytecode, so every run compiled the
module from source: 17 ms of worker CPU per loan run (benchmarks/gate_throughput.py).
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import inspect
import logging
import os
import py_compile
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agents.framework.bytecode import compile_workflow_modules
from agents.framework.llm import LlmSettings
from agents.framework.worker import build_worker
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES

pytestmark = pytest.mark.once  # nothing here depends on the database or channel layer: CI runs it in one pass

PROBE = """
from temporalio import workflow

ANSWER = "ran"


@workflow.defn(name="BytecodeProbe")
class Probe:
    @workflow.run
    async def run(self) -> str:
        return "ran"
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    """A workflow in a module of its own, in a folder with no bytecode, imported the way the
    worker imports it, with bytecode writing off."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    package = tmp_path / f"probe_{uuid.uuid4().hex[:8]}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flow.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(f"{package.name}.flow").Probe


def compiles_per_run(monkeypatch: pytest.MonkeyPatch, cls: type, runs: int = 3) -> int:
    """How many times the sandbox compiled `cls`'s module from source over `runs` new runs."""
    compiled: list[str] = []
    module_file = str(Path(inspect.getfile(cls)).resolve())
    source_to_code = importlib.machinery.SourceFileLoader.source_to_code

    def counting(self, data, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(Path(path).resolve()) == module_file:
            compiled.append(module_file)
        return source_to_code(self, data, path, *args, **kwargs)

    async def new_runs() -> None:
        runner = SandboxedWorkflowRunner()
        definition = workflow._Definition.must_from_class(cls)
        for _ in range(runs):
            runner.prepare_workflow(definition)  # what the worker does for each new run

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", counting)
    asyncio.run(new_runs())
    monkeypatch.undo()
    return len(compiled)


def test_without_bytecode_the_sandbox_compiles_the_workflow_module_for_every_run(
    probe: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_file = Path(inspect.getfile(probe))
    assert not Path(importlib.util.cache_from_source(str(module_file))).exists()
    with monkeypatch.context() as patch:
        assert compiles_per_run(patch, probe) == 3


def test_once_compiled_no_run_compiles_it_again(probe: type, monkeypatch: pytest.MonkeyPatch) -> None:
    assert compile_workflow_modules([probe]) == []
    module_file = Path(inspect.getfile(probe))
    assert Path(importlib.util.cache_from_source(str(module_file))).exists()
    with monkeypatch.context() as patch:
        assert compiles_per_run(patch, probe) == 0


def test_a_module_edited_in_place_never_runs_its_old_bytecode(probe: type) -> None:
    """Same mtime, same size, other content (a deploy that keeps times, within one second): the
    bytecode is checked against the source's content, so the new code runs."""
    module_file = Path(inspect.getfile(probe))
    # Bytecode Python itself wrote earlier (timestamp-checked), as a previous deploy left it.
    py_compile.compile(str(module_file), cfile=importlib.util.cache_from_source(str(module_file)))
    compile_workflow_modules([probe])
    stat = module_file.stat()
    module_file.write_text(PROBE.replace('ANSWER = "ran"', 'ANSWER = "new"'))
    os.utime(module_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert module_file.stat().st_size == stat.st_size

    spec = importlib.util.spec_from_file_location("probe_again", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ANSWER == "new"


def test_a_folder_it_cannot_write_is_named_and_the_worker_starts_anyway(
    probe: type, caplog: pytest.LogCaptureFixture
) -> None:
    folder = Path(inspect.getfile(probe)).parent
    (folder / "__pycache__").write_text("not a folder")  # fails for root too, unlike chmod
    with caplog.at_level(logging.WARNING, logger="agents.framework.bytecode"):
        assert compile_workflow_modules([probe]) == [folder.resolve()]
    assert f"could not write the bytecode of every module in {folder.resolve()}" in caplog.text


def test_build_worker_writes_the_framework_workflow_bytecode(
    temporal, raw_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    # Bytecode of its own: CI's other pass runs this test on the same checkout at the same time.
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    cached = Path(importlib.util.cache_from_source(inspect.getfile(AgentWorkflow)))
    cached.unlink(missing_ok=True)

    temporal.run(build(raw_client, PORTAL_ACTIVITIES))
    assert cached.exists()
    assert compiles_per_run(monkeypatch, AgentWorkflow, runs=1) == 0


def test_a_worker_without_the_local_publish_is_refused_before_it_serves_a_run(temporal, raw_client) -> None:
    """A gate's opening is a local activity, which runs on the worker whose workflow task asks
    for it: a worker built without it would fail that task at every gate, again and again, with
    each run stuck at its gate unseen. It is refused when built, naming what is missing."""
    others = [a for a in PORTAL_ACTIVITIES if a.__name__ != "publish_gate_change_local"]

    with pytest.raises(ValueError, match="publish_gate_change_local"):
        temporal.run(build(raw_client, others))
    temporal.run(build(raw_client, PORTAL_ACTIVITIES))  # the portal's own list builds


async def build(client, portal_activities) -> None:
    """Build a worker of the shared workflow, on the event loop, as a worker validates its
    workflows there; it is never run."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        build_worker(
            client,
            task_queue=f"build-{uuid.uuid4().hex[:8]}",
            agents=[],
            llm=LlmSettings(),
            portal_activities=portal_activities,
            executor=executor,
            keyring={},  # no action is sent
        )
