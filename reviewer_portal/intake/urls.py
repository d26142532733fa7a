from django.urls import path

from reviewer_portal.intake import advice, regulatory, views

app_name = "intake"
urlpatterns = [
    path("applications/new/", views.loan_application_new, name="new"),
    path("advice/new/", advice.advice_case_new, name="advice_new"),
    path("documents/new/", regulatory.document_new, name="document_new"),
    path("documents/<uuid:submission_id>/", regulatory.document_status, name="document_status"),
]
