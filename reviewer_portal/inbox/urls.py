from django.urls import path

from reviewer_portal.inbox import views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="list"),
    path("bulk/", views.gates_bulk_decide_view, name="bulk"),
    path("gates/<str:gate_id>/", views.gate_detail, name="gate"),
    path("gates/<str:gate_id>/decide/", views.gate_decide_view, name="decide"),
    path("gates/<str:gate_id>/annotate/", views.gate_annotate_view, name="annotate"),
    path("gates/<str:gate_id>/claim/", views.gate_claim_view, name="claim"),
    path("gates/<str:gate_id>/unclaim/", views.gate_unclaim_view, name="unclaim"),
    path("gates/<str:gate_id>/assign/", views.gate_assign_view, name="assign"),
]
