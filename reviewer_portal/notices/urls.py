from django.urls import path

from reviewer_portal.notices import views

app_name = "notices"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("count/", views.notification_count, name="count"),
    path("read/", views.notification_mark_read, name="read"),
]
