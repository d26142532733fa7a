"""Create the reviewer role groups. Users are never created by migrations."""

from django.db import migrations

ROLES = ["credit_officer", "senior_credit_officer", "compliance_reviewer", "licensed_adviser", "auditor"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
