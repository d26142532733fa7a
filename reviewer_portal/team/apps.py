from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "reviewer_portal.team"
    label = "team"
