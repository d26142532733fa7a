"""The agent's flags kept on each gate row (the projection works them out at each write), and
worked out once for the gates still pending, so none of them is offered for a bulk decision."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    from reviewer_portal.inbox.presentation import flags_of

    Gate = apps.get_model("inbox", "Gate")
    for gate in Gate.objects.filter(status="pending").only("agent", "case", "tool_results").iterator():
        flags = flags_of(gate.agent, gate.case or {}, gate.tool_results or [])
        if flags:
            Gate.objects.filter(pk=gate.pk).update(flags=flags)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0011_gate_past_roles_backfill")]

    operations = [
        migrations.AddField(model_name="gate", name="flags", field=models.JSONField(default=list)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
