"""Cross-cutting API pieces: the one error shape, pagination, the router."""
