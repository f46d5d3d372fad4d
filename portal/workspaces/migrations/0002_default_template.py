from django.db import migrations


def default_template_create(apps, schema_editor):
    Template = apps.get_model("workspaces", "Template")
    Template.objects.get_or_create(
        name="default", defaults={"description": "1 core, 2G by default; up to 2 cores, 4G"}
    )


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0001_initial")]
    operations = [migrations.RunPython(default_template_create, migrations.RunPython.noop)]
