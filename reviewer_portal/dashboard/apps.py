from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "reviewer_portal.dashboard"
    verbose_name = "SLA dashboard"
