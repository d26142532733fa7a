"""Submissions start when their run did; the runs already in the projection become their
submitters' submissions (the portal kept no record of them before)."""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import Min


def record_existing_runs(apps, schema_editor):
    Gate = apps.get_model("inbox", "Gate")
    Submission = apps.get_model("history", "Submission")
    User = apps.get_model("auth", "User")
    # By id; by name on runs started before ids were recorded (as the gate permissions read them).
    ids = {str(pk): pk for pk in User.objects.values_list("pk", flat=True)}
    names = dict(User.objects.values_list("username", "pk"))
    known = set(Submission.objects.values_list("workflow_id", flat=True))
    runs = Gate.objects.values("workflow_id", "submitted_by_id", "submitted_by", "agent").annotate(
        started=Min("opened_at"), subject=Min("subject")
    )
    submissions = {}
    for run in runs.iterator():
        user = ids.get(run["submitted_by_id"]) if run["submitted_by_id"] else names.get(run["submitted_by"])
        if user is not None and run["workflow_id"] not in known:
            submissions[run["workflow_id"]] = Submission(
                workflow_id=run["workflow_id"],
                agent=run["agent"],
                subject=run["subject"][:300],
                submitted_by_id=user,
                submitted_at=run["started"],
            )
    Submission.objects.bulk_create(
        list(submissions.values()),
        ignore_conflicts=True,
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("history", "0001_submission"),
        ("inbox", "0009_signed_actions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="submission",
            name="submitted_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(record_existing_runs, migrations.RunPython.noop),
    ]
