from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """The processes the portal runs beside itself: the worker sidecar (run_worker, which wires
    the portal's activities into the agents' workers), the embedded stack (devstack, `make dev`),
    demo data (seed_demo) and list_agents. On the portal's side, so `agents/` never imports it."""

    name = "reviewer_portal.operations"
    label = "operations"
