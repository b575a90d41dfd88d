"""WSGI entry point (gunicorn ``algosaas.wsgi``); production settings unless told otherwise."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.production")
application = get_wsgi_application()
