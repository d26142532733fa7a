from django.urls import path

from reviewer_portal.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_index, name="index"),
    path("<str:workflow_id>/", views.audit_run, name="run"),
    path("<str:workflow_id>/export.json", views.audit_export, name="export"),
]
