"""Fault tests: a real django-q2 cluster on PostgreSQL, killed workers, doubled tasks, restarts."""
