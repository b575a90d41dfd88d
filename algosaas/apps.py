"""The project app: connects the hot-read cache's invalidation to model writes."""

from django.apps import AppConfig


class AlgosaasConfig(AppConfig):
    name = "algosaas"

    def ready(self) -> None:
        from algosaas import cache_hooks

        cache_hooks.connect()
