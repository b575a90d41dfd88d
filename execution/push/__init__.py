"""Live push: deployment events over WebSockets (Django Channels), docs/live-push.md.

``events`` publishes after commit from the service layer, ``consumers`` serves ``/ws/live/``,
``replay`` reads what a reconnecting client missed from the database, ``messages`` builds the
JSON both send, so a replayed event is the same as a live one.
"""
