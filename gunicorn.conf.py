"""Gunicorn's settings, read automatically by ``gunicorn`` run from this directory.

Production serves ASGI: ``gunicorn algosaas.asgi:application -k uvicorn_worker.UvicornWorker``
(the Procfile's ``web``); the worker class is on the command line, not here, so ``gunicorn
algosaas.wsgi`` still works with the same file. Gunicorn reads ``$PORT`` (bind 0.0.0.0:$PORT)
and ``$WEB_CONCURRENCY`` (worker processes) itself.

Request-size limits: gunicorn answers anything beyond its own limits with an HTML 414/431 the
app never sees, so the app's own bounds sit below them and answer in the API's JSON shape
(``algosaas.middleware.RequestLimitsMiddleware``). Raising gunicorn's limits from its defaults
(4094-byte request line, 8190-byte header field) lets the app speak first:

=====================================  ==========  =========================================
what                                    gunicorn    the app (JSON under /api/)
=====================================  ==========  =========================================
request line (method, path, query)      8190        query string 4096 characters -> 400
one query parameter's name or value     (line)      1024 characters -> 400 naming it
one header field (name + value)         16384       8192 bytes -> 431 naming the header
=====================================  ==========  =========================================

8190 is the largest request line gunicorn accepts. A request past gunicorn's limits (a request
line over 8190 bytes, a header over 16 KiB) still gets gunicorn's plain answer. Under the
UvicornWorker (production's ASGI), uvicorn parses requests instead: h11 takes a request line and
headers of up to 16 KiB together and answers a plain 400 past that, so the app's bounds above
still answer first for any one over-long query or header.
``tests/test_request_limits.py`` checks the app's numbers stay below these.
"""

limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 100  # gunicorn's default, stated so the three limits read together

# X-Forwarded-For is trusted in one place only, the app's NUM_PROXIES (throttling, axes);
# uvicorn would otherwise rewrite the client address from it for connections from 127.0.0.1.
forwarded_allow_ips = ""
