from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps, schema_editor):
    # Django's own command: the table of every database cache in CACHES (the throttles',
    # settings.py), left alone when it exists; nothing when no cache is a database one.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    """The shared cache's table, made by `migrate` wherever the portal is set up (make run,
    the image, Helm's init container), so no set-up step can forget `createcachetable`."""

    dependencies = [("api", "0002_drop_plaintext_tokens")]

    operations = [migrations.RunPython(cache_table_create, migrations.RunPython.noop)]
