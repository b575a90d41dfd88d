"""The algosaas Django project: settings, URLs, WSGI/ASGI entry points and logging."""
