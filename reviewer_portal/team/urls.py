from django.urls import path

from reviewer_portal.team import views

app_name = "team"
urlpatterns = [
    path("", views.team, name="index"),
    path("gates/", views.team_gates_view, name="gates"),
    path("absences/", views.absence_mark_view, name="absence_mark"),
    path("absences/present/", views.absence_end_view, name="absence_end"),
]
