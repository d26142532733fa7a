"""Intake pages: one per agent that declares an intake (at its declared path, or
`<agent>/new/`), and the regulatory document upload."""

from django.urls import path

from agents.framework.registry import AGENTS
from reviewer_portal.intake import regulatory, views

app_name = "intake"
urlpatterns = [
    *(
        path(spec.intake.path or f"{name}/new/", views.intake_new, {"agent": name}, name=f"start_{name}")
        for name, spec in sorted(AGENTS.items())
        if spec.intake
    ),
    # Any agent's intake by name (the nav links here when an agent was registered after start-up).
    path("intake/<slug:agent>/new/", views.intake_new, name="start"),
    path("documents/new/", regulatory.document_new, name="document_new"),
    path("documents/<uuid:submission_id>/", regulatory.document_status, name="document_status"),
]
