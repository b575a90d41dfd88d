"""Test settings: fast bcrypt, in-memory cache, synchronous jobs unless a test says otherwise."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789abcdef")
os.environ.setdefault("JWT_SIGNING_KEY", "test-jwt-signing-key-distinct-from-secret-key-0123")
os.environ.setdefault("LOG_FORMAT", "console")

from .base import *  # noqa: F403
from .base import ALGOSAAS, Q_CLUSTER, env

# Same algorithm (bcrypt_sha256) with the minimum work factor, so the suite stays quick.
PASSWORD_HASHERS = ["accounts.hashers.FastBCryptSHA256PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tasks run inline in the caller; a fault test starts a real ``qcluster`` with Q_SYNC=false.
Q_CLUSTER = {**Q_CLUSTER, "sync": env.bool("Q_SYNC", default=True)}
# Fault tests only: a file whose existence holds a live step just before its commit
# (``execution.services.live._pause_point``), so a test can kill the worker mid-step.
ALGOSAAS = {**ALGOSAAS, "TEST_PAUSE_FILE": env.str("ALGOSAAS_TEST_PAUSE_FILE", default="")}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
