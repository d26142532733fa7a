from django.urls import path

import reviewer_portal.run_ids  # noqa: F401  (registers the run_id converter)
from reviewer_portal.audit import prompt_views, record_views, views

app_name = "audit"
urlpatterns = [
    path("", views.audit_index, name="index"),
    # Before the run pattern, which would take "prompts" for a workflow id.
    path("prompts/", prompt_views.prompt_list, name="prompts"),
    path("prompts/<str:prompt_id>/v<int:version>/", prompt_views.prompt_detail, name="prompt"),
    path("decisions/<run_id:gate_id>/", record_views.decision_record_page, name="decision"),
    path("decisions/<run_id:gate_id>.json", record_views.decision_record_json, name="decision_json"),
    path("models/", record_views.model_risk_page, name="models"),
    path("<run_id:workflow_id>/", views.audit_run, name="run"),
    path("<run_id:workflow_id>/export.json", views.audit_export, name="export"),
]
