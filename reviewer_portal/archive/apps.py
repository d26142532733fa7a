from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "reviewer_portal.archive"
    label = "archive"
