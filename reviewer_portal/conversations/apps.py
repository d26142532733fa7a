from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "reviewer_portal.conversations"
    label = "conversations"
