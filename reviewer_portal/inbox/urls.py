from django.urls import path

from reviewer_portal.inbox import gate_views, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="list"),
    path("bulk/", views.gates_bulk_decide_view, name="bulk"),
    path("gates/<str:gate_id>/", gate_views.gate_detail, name="gate"),
    path("gates/<str:gate_id>/decide/", gate_views.gate_decide_view, name="decide"),
    path("gates/<str:gate_id>/withdraw/", gate_views.gate_withdraw_view, name="withdraw"),
    path("gates/<str:gate_id>/annotate/", gate_views.gate_annotate_view, name="annotate"),
    path("gates/<str:gate_id>/claim/", gate_views.gate_claim_view, name="claim"),
    path("gates/<str:gate_id>/unclaim/", gate_views.gate_unclaim_view, name="unclaim"),
    path("gates/<str:gate_id>/assign/", gate_views.gate_assign_view, name="assign"),
]
