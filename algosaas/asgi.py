"""ASGI entry point, served in production by gunicorn with ``uvicorn_worker.UvicornWorker``.

Production settings unless told otherwise. Persistent database connections are switched off
here, whatever ``CONN_MAX_AGE`` says: Django runs each request's synchronous code in a thread
of its own under ASGI, so a connection kept open after the request belongs to a thread that is
gone and is never reused, only leaked until the server drops it (Django's documentation: "When
using ASGI, persistent connections should be disabled"). Each request opens its connection and
closes it at the end; docs/production.md says why Django's native pool is not used instead
(it needs psycopg 3, and installing that switches every process off psycopg2) and where a pool
goes when connection setup starts to matter (PgBouncer). Static files are WhiteNoise's
middleware, so they work the same under ASGI. The job cluster (``manage.py qcluster``) and
``runserver`` do not import this module and keep their persistent connections.

WebSockets (``/ws/live/``, live push: docs/live-push.md) are routed by Channels beside
Django's own HTTP app, which stays as it was.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.production")
os.environ["CONN_MAX_AGE"] = "0"
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (after Django is set up)

from execution.push.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_application, "websocket": websocket_application()})
