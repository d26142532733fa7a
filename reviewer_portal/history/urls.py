from django.urls import path

from reviewer_portal.history import views

app_name = "history"
urlpatterns = [
    path("decisions/", views.my_decisions, name="decisions"),
    path("submissions/", views.my_submissions, name="submissions"),
]
