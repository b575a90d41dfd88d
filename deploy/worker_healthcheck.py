"""Exit 0 when a django-q2 cluster on this host reports to the broker, else 1.

The worker container's healthcheck (compose.yaml): a running ``qcluster`` refreshes its status
in Redis every few seconds with a short expiry, so a hung or dead cluster drops out of
``Stat.get_all()`` by itself. Needs the Redis broker (``REDIS_URL``); the ORM broker keeps no
status. Run from the project directory: ``python deploy/worker_healthcheck.py``.
"""

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.production")


def main() -> int:
    import django

    django.setup()
    from django_q.status import Stat

    host = socket.gethostname()
    return 0 if any(stat.host == host for stat in Stat.get_all()) else 1


if __name__ == "__main__":
    sys.exit(main())
