from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "reviewer_portal.inbox"
    label = "inbox"

    def ready(self) -> None:
        from reviewer_portal.inbox.flag_refresh import refresh_after_migrate

        # Sent after every migrate, even one of another app or with the inbox unapplied: this
        # receiver hears the inbox's and looks for the gates itself.
        post_migrate.connect(refresh_after_migrate, sender=self)
