from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "reviewer_portal.inbox"
    label = "inbox"

    def ready(self) -> None:
        from reviewer_portal.inbox.flag_refresh import refresh_after_migrate

        # Sent once per app migrated: only the inbox's, when its tables are all there.
        post_migrate.connect(refresh_after_migrate, sender=self)
