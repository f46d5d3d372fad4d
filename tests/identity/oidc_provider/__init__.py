"""A tiny Django project that is a real OpenID Provider (django-oauth-toolkit), for tests.

It runs in its own process with its own settings (``tests.identity.oidc_provider.settings``),
never inside the test process, whose Django is the portal's; ``tests/identity/oidc.py``
starts it.
"""
