from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "reviewer_portal.history"
    label = "history"
