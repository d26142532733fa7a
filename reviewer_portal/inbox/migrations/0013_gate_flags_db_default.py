"""A gate row inserted by code from before flags (a worker or portal not yet replaced during a
rolling deploy) names no flags column: the database fills in a flag that says the row was not
checked, instead of refusing the insert. Existing rows keep theirs."""

from django.db import migrations, models

NOT_WORKED_OUT = (
    "Written by an older version of the portal, which did not check it against the agent's rules: "
    "read it in full before deciding."
)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0012_gate_flags")]

    operations = [
        migrations.AlterField(
            model_name="gate",
            name="flags",
            field=models.JSONField(db_default=[NOT_WORKED_OUT], default=list),
        ),
    ]
