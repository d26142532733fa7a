from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("reviewer_portal.inbox.urls")),
    path("", include("reviewer_portal.intake.urls")),
    path("audit/", include("reviewer_portal.audit.urls")),
    path("codec/", include("reviewer_portal.codec.urls")),
    path("dashboard/", include("reviewer_portal.dashboard.urls")),
    path("history/", include("reviewer_portal.history.urls")),
    path("team/", include("reviewer_portal.team.urls")),
    path("notifications/", include("reviewer_portal.notices.urls")),
    path("accounts/", include("reviewer_portal.accounts.urls")),
    path("", include("reviewer_portal.conversations.urls")),
    path("admin/", admin.site.urls),
]
