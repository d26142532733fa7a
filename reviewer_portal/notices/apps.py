from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "reviewer_portal.notices"
    label = "notices"
