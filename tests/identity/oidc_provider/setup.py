"""Prepares the provider's database before its server starts: ``python -m`` this module with
the provider's settings. Makes the tables (those missing) and registers the one test client."""

import os

import django
from django.core.management import call_command


def main() -> None:
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    from oauth2_provider.models import Application

    Application.objects.update_or_create(
        client_id=os.environ["OIDC_TEST_CLIENT_ID"],
        defaults={
            "name": "MLHub under test",
            # Plain: DOT hashes it as it saves, and compares the hash at the token endpoint.
            "client_secret": os.environ["OIDC_TEST_CLIENT_SECRET"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": os.environ["OIDC_TEST_REDIRECT_URIS"],
            "algorithm": Application.RS256_ALGORITHM,
            # No consent page: people go from the login form straight back to the client.
            "skip_authorization": True,
        },
    )


if __name__ == "__main__":
    main()
