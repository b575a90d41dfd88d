"""What a batch of live steps computes once and shares: bars per series, signals per strategy.

A step batch (``live.deployments_step``) runs hundreds of engines at the same wall time. On the
synthetic feed each bar is a pure function of its series (instrument, interval, tick, session)
and its open time, so every deployment on one series asks for a window of the same bars,
differing only in where it starts. ``SharedBars`` generates each series once per batch, from
the earliest start any deployment wants, and hands each deployment its slice: the same values,
bit for bit, that ``SyntheticSource.closed_bars`` returns for its own window (each bar's value
does not depend on the range it was generated in; ``execution/tests/live/test_shared.py``).

``SharedSignals`` does the same for decisions: a strategy type's ``signals(bars, params)`` is a
causal, pure function, so deployments of one strategy type with equal parameters over the very
same bars get one computation. Shared arrays are read-only, so an engine or a strategy that
wrote into its input would fail loudly instead of changing another deployment's bars.

Other feeds (replays, the broker's bars) are not shared: each reads its own rows as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.marketdata.sources import SyntheticSource
from execution.models import DeploymentState, Feed


def _readonly(bars: BarSeries) -> BarSeries:
    for arr in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume):
        arr.flags.writeable = False
    return bars


class SharedBars:
    """One batch's synthetic series: ``want`` every window first, then ``closed_bars``."""

    def __init__(self) -> None:
        self._start: dict[tuple[SyntheticSource, int], int] = {}
        self._series: dict[tuple[SyntheticSource, int], BarSeries] = {}

    def want(self, source: Any, since_ts: int, now_ts: int) -> None:
        """Announce a window ``closed_bars`` will be asked for (other sources: ignored)."""
        if not isinstance(source, SyntheticSource):
            return
        key = (source, source.last_closed_open(now_ts))
        start = self._start.get(key)
        self._start[key] = since_ts if start is None else min(start, since_ts)

    def closed_bars(self, source: Any, *, since_ts: int, now_ts: int) -> tuple[BarSeries, Any]:
        """The bars ``source.closed_bars`` returns, and a key naming them (``None``: unshared)."""
        if not isinstance(source, SyntheticSource):
            return source.closed_bars(since_ts=since_ts, now_ts=now_ts), None
        key = (source, source.last_closed_open(now_ts))
        start = self._start.get(key)
        if start is None or since_ts < start:  # not announced: its own window, unshared
            return source.closed_bars(since_ts=since_ts, now_ts=now_ts), None
        series = self._series.get(key)
        if series is None:
            series = _readonly(source.closed_bars(since_ts=start, now_ts=now_ts))
            self._series[key] = series
        first = int(np.searchsorted(series.ts, since_ts, side="left"))
        return series.slice(first), (key, first)


class SharedSignals:
    """A strategy type whose ``signals`` are memoised per (parameters, shared bars)."""

    def __init__(self, strategy: Any, memo: dict[Any, np.ndarray], bars_key: Any) -> None:
        self._strategy = strategy
        self._memo = memo
        self._bars_key = bars_key

    def __getattr__(self, name: str) -> Any:  # validate_params, warmup, ...: the type's own
        return getattr(self._strategy, name)

    def signals(self, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        key = (self._strategy, json.dumps(params, sort_keys=True, default=str), self._bars_key)
        sig = self._memo.get(key)
        if sig is None:
            sig = np.asarray(self._strategy.signals(bars, params), dtype=np.float64)
            sig.flags.writeable = False
            self._memo[key] = sig
        return sig


@dataclass
class StepShare:
    """One step batch's shared bars and signals, and each deployment's window of bars."""

    bars: SharedBars = field(default_factory=SharedBars)
    signals: dict[Any, np.ndarray] = field(default_factory=dict)
    windows: dict[int, tuple[Any, int]] = field(default_factory=dict)

    @classmethod
    def prepare(
        cls,
        lives: list[DeploymentState],
        now: Any,
        window: Callable[[DeploymentState, int], tuple[Any, int]],
    ) -> StepShare:
        """Announce every deployment's window (``window(live, now_ts)``: source, first bar)."""
        shared = cls()
        now_ts = int(now.timestamp())
        for live in lives:
            if live.feed == Feed.REPLAY or "members" in live.engine_config:
                continue  # a replay reads its own stored bars; a basket has its own path
            try:
                source, since = window(live, now_ts)
            except Exception:  # noqa: S112  # nosec B112: its own step meets the error and records it
                continue
            shared.windows[live.pk] = (source, since)
            shared.bars.want(source, since, now_ts)
        return shared
