from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "reviewer_portal.search"
    label = "search"

    def ready(self) -> None:
        from reviewer_portal.search.schema import search_index_ensure

        # After every migrate (and a test flush): a later migration that rebuilds inbox_gate on
        # SQLite (Django copies it into a new table) drops its triggers with the old table.
        post_migrate.connect(search_index_ensure, sender=self, dispatch_uid="search_index_ensure")
