"""Production: HTTPS only, secure cookies, HSTS. TLS may end at a proxy (``SECURE_PROXY_SSL``)."""

from .base import *  # noqa: F403
from .base import NOTIFICATIONS, env

DEBUG = False
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Probes speak plain HTTP to the process itself (compose, load balancers): never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("SECURE_PROXY_SSL", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Webhooks never reach the host's own network (SSRF): loopback and private addresses refused.
NOTIFICATIONS = {
    **NOTIFICATIONS,
    "ALLOW_PRIVATE_ADDRESSES": env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False),
}
