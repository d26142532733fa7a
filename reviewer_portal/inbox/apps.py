from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "reviewer_portal.inbox"
    label = "inbox"
