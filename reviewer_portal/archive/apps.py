from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "reviewer_portal.archive"
    label = "archive"
    verbose_name = "The archive of closed runs"

    def ready(self) -> None:
        from reviewer_portal.archive import checks  # noqa: F401  (registers the settings check)
