"""The shared agent framework: one Workflow, driven by a per-team AgentSpec.

Modules here never import Django; the workflow module imports nothing with I/O at all, so the
Temporal sandbox stays on.
"""
