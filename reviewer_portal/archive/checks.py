"""`manage.py check`: the archive passes often enough to run well inside Temporal's retention, and
keeps records at least as long as the EU AI Act asks of logs (six months)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

MIN_RETENTION_DAYS = 183  # AI Act Art. 19 and 26(6): at least six months


@register()
def archive_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    warnings = []
    retention_minutes = settings.TEMPORAL_RETENTION_DAYS * 24 * 60
    if retention_minutes < settings.ARCHIVE_EVERY_MINUTES * 4:
        warnings.append(
            Warning(
                f"The archive runs every {settings.ARCHIVE_EVERY_MINUTES} min, close to Temporal's retention of "
                f"{settings.TEMPORAL_RETENTION_DAYS} days: a missed pass or two and closed runs are deleted first.",
                hint="Lower ARCHIVE_EVERY_MINUTES to a quarter of the retention or less.",
                id="archive.W001",
            )
        )
    if settings.ARCHIVE_RETENTION_DAYS < MIN_RETENTION_DAYS:
        warnings.append(
            Warning(
                f"ARCHIVE_RETENTION_DAYS is {settings.ARCHIVE_RETENTION_DAYS}: the EU AI Act asks for at least six "
                "months of logs for high-risk systems, and banks keep credit decisions for years.",
                id="archive.W002",
            )
        )
    return warnings
