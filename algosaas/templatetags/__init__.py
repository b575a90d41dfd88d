"""Template filters and tags of the dashboard; load them with ``{% load money %}``."""
