from django.urls import path

from reviewer_portal.intake import views

app_name = "intake"
urlpatterns = [path("applications/new/", views.loan_application_new, name="new")]
