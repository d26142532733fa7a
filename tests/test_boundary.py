"""The layers stay apart: `agents/` never imports the portal, and the portal learns the workflow's
names from the contract (agents/framework/contract.py), not by importing the workflow; only the
portal's operations app, which builds workers, touches the workflow and worker modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_MODULES = ("agents.framework.workflow", "agents.framework.worker")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def offenders(folder: str, forbidden: tuple[str, ...], *, except_under: str = "") -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if except_under and relative.startswith(except_under):
            continue
        for module in imports_of(path):
            if module.startswith(forbidden):
                bad.append(f"{relative} imports {module}")
    return bad


def test_agents_never_import_the_portal():
    assert offenders("agents", ("reviewer_portal",)) == []


def test_the_portal_reads_the_workflow_s_names_from_the_contract():
    assert offenders("reviewer_portal", WORKFLOW_MODULES, except_under="reviewer_portal/operations/") == []
