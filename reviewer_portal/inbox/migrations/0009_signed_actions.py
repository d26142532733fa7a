"""Issue 7: the decision record becomes the outbox of every signed reviewer action, and the gate
projection keeps immutable user ids and the workflow's own snapshot."""

from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


OPEN = ["sending", "undelivered"]


def keep_one_open_decision(apps, schema_editor):
    """Before this, a reviewer could queue several decisions on one gate. Keep the newest; the
    others are withdrawn, saying why, before the constraint that forbids it is added."""
    attempts = apps.get_model("inbox", "ActionAttempt")
    newest: dict[tuple[str, int], int] = {}
    for attempt in attempts.objects.filter(status__in=OPEN).order_by("-created_at", "-pk"):
        key = (attempt.gate_id, attempt.reviewer_id)
        if key in newest:
            attempt.status = "withdrawn"
            attempt.detail = "Withdrawn when upgrading: the reviewer's newer decision on this gate stands."
            attempt.save(update_fields=["status", "detail"])
        else:
            newest[key] = attempt.pk


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("inbox", "0008_gate_status_changes_requested"),
    ]

    operations = [
        migrations.RenameModel("DecisionAttempt", "ActionAttempt"),
        migrations.RenameField("actionattempt", "update_id", "action_id"),
        migrations.AddField(
            "actionattempt",
            "action",
            models.CharField(
                choices=[("decide", "Decide"), ("annotate", "Annotate"), ("assign", "Assign")],
                default="decide",
                max_length=20,
            ),
        ),
        migrations.AddField("actionattempt", "origin", models.CharField(default="portal", max_length=20)),
        migrations.AlterField("actionattempt", "decision", models.CharField(blank=True, max_length=20)),
        migrations.AddField("actionattempt", "text", models.TextField(blank=True)),
        migrations.AddField(
            "actionattempt",
            "assignee",
            models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            "actionattempt",
            "status",
            models.CharField(
                choices=[
                    ("sending", "Sending"),
                    ("accepted", "Accepted"),
                    ("refused", "Refused"),
                    ("undelivered", "Undelivered"),
                    ("withdrawing", "Withdrawing"),
                    ("withdrawn", "Withdrawn"),
                ],
                default="sending",
                max_length=20,
            ),
        ),
        migrations.AddField("actionattempt", "deliveries", models.PositiveIntegerField(default=0)),
        migrations.AddField("actionattempt", "update_id", models.CharField(blank=True, max_length=300)),
        migrations.AddField("actionattempt", "signed_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("actionattempt", "envelope", models.JSONField(blank=True, null=True)),
        migrations.AddField("actionattempt", "in_flight_until", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("actionattempt", "revision", models.PositiveIntegerField(blank=True, null=True)),
        migrations.RunPython(keep_one_open_decision, migrations.RunPython.noop),
        migrations.AddConstraint(
            "actionattempt",
            models.UniqueConstraint(
                condition=models.Q(
                    ("action", "decide"), ("status__in", ["sending", "undelivered", "withdrawing"])
                ),
                fields=("gate", "reviewer"),
                name="one_open_decision_per_reviewer_and_gate",
            ),
        ),
        migrations.AddIndex("actionattempt", models.Index(fields=["status", "updated_at"], name="attempt_open")),
        migrations.AddField("gate", "submitted_by_id", models.CharField(blank=True, max_length=64)),
        migrations.AddField(
            "gate", "assignee_id", models.CharField(blank=True, db_index=True, max_length=64)
        ),
        migrations.AddField("gate", "decided_by_id", models.CharField(blank=True, max_length=64)),
        migrations.AddField("gate", "decided_via", models.CharField(blank=True, max_length=20)),
        migrations.AddField(
            "gate", "decision_id", models.CharField(blank=True, db_index=True, max_length=300)
        ),
        migrations.AddField("gate", "snapshot", models.JSONField(default=dict)),
    ]
