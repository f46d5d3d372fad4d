import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from portal.base_path import prefixed

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Under MLHUB_BASE_URL the portal answers only there; the rest is redirected into it.
application = prefixed(get_wsgi_application(), settings.BASE_URL)
