"""Gates escalated before the projection kept the roles they left: read them off each agent's
policy, so the roles they left open them again (the link in an SLA e-mail, a bookmark)."""

from django.db import migrations


def backfill(apps, schema_editor):
    from reviewer_portal.inbox.gate_moves import moves_from_policy

    Gate = apps.get_model("inbox", "Gate")
    for gate in Gate.objects.filter(escalation_level__gt=0, past_roles=[]).iterator():
        # The row has every field moves_from_policy reads (agent, tool call, level, role, deadline, SLA).
        moves = moves_from_policy(gate)
        if moves:
            Gate.objects.filter(pk=gate.pk).update(**moves)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0010_gate_past_roles_and_claim_required")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
