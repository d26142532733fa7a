"""The inbox's search index (reviewer_portal.search.schema): SQLite FTS5 with triggers, or a
PostgreSQL pg_trgm expression index (the extension needs a role that may create it)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from reviewer_portal.search.schema import search_index_create, search_index_drop


def create(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    search_index_create(schema_editor.connection)


def drop(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    search_index_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0010_gate_past_roles_and_claim_required")]

    operations = [migrations.RunPython(create, drop)]
