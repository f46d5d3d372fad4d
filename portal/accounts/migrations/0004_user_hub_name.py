"""Store each person's hub name, unique: two rows must never reach one hub account.

Before this, the hub name was ``username.lower()`` and uniqueness was SQL's ``LOWER``, which on
SQLite folds only ASCII: ``jürgen`` and ``jÜrgen`` could both exist and log in to the hub as one.
This migration refuses to go on while any two rows share a hub name, and lists them: an admin
renames or deletes one of each group (``manage.py shell`` or the admin site on the old
version), then migrates again.
"""

from collections import defaultdict

from django.db import migrations, models

from lib.usernames import hub_form


def collisions(names) -> list[list[str]]:
    """The groups of usernames that share one hub name, each sorted, in name order."""
    groups = defaultdict(list)
    for name in names:
        groups[hub_form(name)].append(name)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


class HubNameCollision(RuntimeError):
    pass


def fill_hub_names(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    db = schema_editor.connection.alias
    rows = list(User.objects.using(db).values_list("pk", "username"))
    if clashing := collisions(name for _, name in rows):
        listed = "; ".join(" / ".join(group) for group in clashing)
        raise HubNameCollision(
            f"{len(clashing)} group(s) of usernames would be one hub account: {listed}. "
            "Rename or delete all but one of each group, then migrate again."
        )
    for pk, name in rows:
        User.objects.using(db).filter(pk=pk).update(hub_name=hub_form(name))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_rejection_reason_and_allowlist"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="hub_name",
            field=models.CharField(default="", editable=False, max_length=150),
            preserve_default=False,
        ),
        migrations.RunPython(fill_hub_names, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="user", name="accounts_user_username_ci_unique"),
        migrations.AlterField(
            model_name="user",
            name="hub_name",
            field=models.CharField(editable=False, max_length=150, unique=True),
        ),
    ]
