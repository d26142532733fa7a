from django.urls import path

import reviewer_portal.run_ids  # noqa: F401  (registers the run_id converter)
from reviewer_portal.inbox import assignment_views, decide_views, gate_views, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="list"),
    path("bulk/", views.gates_bulk_decide_view, name="bulk"),
    path("gates/<run_id:gate_id>/", gate_views.gate_detail, name="gate"),
    path("gates/<run_id:gate_id>/decide/", decide_views.gate_decide_view, name="decide"),
    path("gates/<run_id:gate_id>/withdraw/", gate_views.gate_withdraw_view, name="withdraw"),
    path("gates/<run_id:gate_id>/annotate/", gate_views.gate_annotate_view, name="annotate"),
    path("gates/<run_id:gate_id>/claim/", assignment_views.gate_claim_view, name="claim"),
    path("gates/<run_id:gate_id>/unclaim/", assignment_views.gate_unclaim_view, name="unclaim"),
    path("gates/<run_id:gate_id>/assign/", assignment_views.gate_assign_view, name="assign"),
]
