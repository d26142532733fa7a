from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "reviewer_portal.history"
    label = "history"

    def ready(self) -> None:
        from reviewer_portal.history import signals  # noqa: F401  (connects the receiver)
