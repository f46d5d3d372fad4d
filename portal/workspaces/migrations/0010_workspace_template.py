# "Template" meant both a workspace template (this model) and a page template; the model is
# now WorkspaceTemplate. Renamed, not recreated: every template, its groups and the
# workspaces' references are kept (the tables are renamed).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("workspaces", "0009_gpu_count_text"),
    ]

    operations = [
        migrations.RenameModel(old_name="Template", new_name="WorkspaceTemplate"),
        migrations.AlterField(
            model_name="workspacetemplate",
            name="groups",
            field=models.ManyToManyField(
                blank=True,
                help_text="Who may use it; none: everyone",
                related_name="workspace_templates",
                to="auth.group",
            ),
        ),
    ]
