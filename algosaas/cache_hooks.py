"""Invalidate cached hot reads when their rows change by a model save or delete.

Optional listeners only (STYLE: signals never drive a domain step): the services that write in
bulk (``bars_import``, which sends no signal) invalidate explicitly as well.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from algosaas import cache as hot


def _instrument_changed(sender: type, **kwargs: Any) -> None:
    from execution.selectors import INSTRUMENTS_NAMESPACE

    hot.invalidate(INSTRUMENTS_NAMESPACE)


def _bar_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    from execution.selectors import bars_namespace

    hot.invalidate(bars_namespace(instance.instrument_id))


def connect() -> None:
    """Connect the receivers (``AlgosaasConfig.ready``); idempotent by ``dispatch_uid``."""
    from execution.models import Bar, Instrument

    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_instrument_changed, sender=Instrument, dispatch_uid=f"hot-inst-{name}")
        signal.connect(_bar_changed, sender=Bar, dispatch_uid=f"hot-bar-{name}")
