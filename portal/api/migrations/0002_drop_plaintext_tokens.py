from django.db import migrations


class Migration(migrations.Migration):
    """Drop rest_framework.authtoken's table, left behind when the app was removed.

    It held every API key in plain text. Those keys no longer work (tokens are knox digests
    in api_apitoken now); the table would only be a copy waiting to leak.
    """

    dependencies = [("api", "0001_initial")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop),
    ]
