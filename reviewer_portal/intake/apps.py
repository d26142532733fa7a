from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "reviewer_portal.intake"
    label = "intake"
