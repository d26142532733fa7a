from django.urls import path

from reviewer_portal.intake import advice, views

app_name = "intake"
urlpatterns = [
    path("applications/new/", views.loan_application_new, name="new"),
    path("advice/new/", advice.advice_case_new, name="advice_new"),
]
