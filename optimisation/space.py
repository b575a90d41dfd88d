"""A sweep's parameter space: parsed and validated against the strategy type's ``Param``s.

Per parameter, either a list of values (``[5, 10, 20]``, any kind) or an inclusive range
(``{"start": 5, "stop": 30, "step": 5}``, ints and floats). Parameters left out keep the
strategy's current value. Each value is checked by the ``Param`` itself (type, bounds, finite)
and each combination by the type's cross-field rules (``validate_params``): a combination the
rules refuse (fast >= slow) is skipped and counted, never run. Plain Python, no Django.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from strategies.catalog.base import Param, ParamsInvalid, StrategyType

RANGE_KEYS = frozenset({"start", "stop", "step"})


class SpaceInvalid(ValueError):
    """Raised when a space is malformed; ``errors`` maps a parameter name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: its ``Param`` and its values in order (a range is also kept as one,
    so optuna can search it as a stepped range)."""

    param: Param
    values: tuple[Any, ...]
    step: float | None = None  # set for a range

    @property
    def name(self) -> str:
        return self.param.name


@dataclass(frozen=True)
class Space:
    """The validated space of one strategy type, with the strategy's other parameters fixed."""

    stype: type[StrategyType]
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, Any]

    @property
    def size(self) -> int:
        """Combinations in the grid, before the cross-field rules."""
        return math.prod(len(d.values) for d in self.dimensions)

    def combine(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The complete, typed parameters of one combination, or None if the rules refuse it."""
        try:
            return self.stype.validate_params({**self.fixed, **values})
        except ParamsInvalid:
            return None

    def grid(self) -> tuple[list[dict[str, Any]], int]:
        """Every valid combination in grid order, and how many the rules refused."""
        names = [d.name for d in self.dimensions]
        valid: list[dict[str, Any]] = []
        refused = 0
        for combo in itertools.product(*(d.values for d in self.dimensions)):
            params = self.combine(dict(zip(names, combo, strict=True)))
            if params is None:
                refused += 1
            else:
                valid.append(params)
        return valid, refused

    def sample(self, count: int, seed: int) -> tuple[list[dict[str, Any]], int]:
        """``count`` distinct valid combinations drawn with ``seed`` (all if fewer exist)."""
        valid, refused = self.grid()
        # a reproducible sample of parameter sets, not a secret (as ruff's S311 is off)
        sampler = random.Random(seed)  # nosec B311
        return sampler.sample(valid, min(count, len(valid))), refused


def params_key(params: Mapping[str, Any]) -> str:
    """The canonical text of a parameter set: equal sets give equal keys (sorted, compact)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _range_length(start: float, stop: float, step: float) -> int:
    # a tolerance of a millionth of a step keeps 0.1..0.3 step 0.1 at three values
    return math.floor((stop - start) / step + 1e-6) + 1


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dimension(param: Param, raw: Any, limit: int) -> Dimension:
    """Parse one parameter's entry; raise ``ValueError`` with the message for the field."""
    if isinstance(raw, list):
        if not raw:
            raise ValueError("The list of values is empty.")
        if len(raw) > limit:
            raise ValueError(f"More than {limit} values.")
        values = tuple(param.clean(v) for v in raw)
        if len(set(map(repr, values))) != len(values):
            raise ValueError("The list repeats a value.")
        return Dimension(param, values)
    if not isinstance(raw, Mapping):
        raise ValueError('Must be a list of values or a range {"start", "stop", "step"}.')
    if param.kind not in ("int", "float"):
        raise ValueError(f"A {param.kind} parameter takes a list of values, not a range.")
    unknown = set(raw) - RANGE_KEYS
    missing = RANGE_KEYS - set(raw)
    if unknown or missing:
        raise ValueError(
            "A range has exactly start, stop and step"
            + (f"; unknown: {', '.join(sorted(map(str, unknown)))}" if unknown else "")
            + (f"; missing: {', '.join(sorted(missing))}" if missing else "")
            + "."
        )
    start, stop, step = raw["start"], raw["stop"], raw["step"]
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if not _number(v) or not math.isfinite(v):
            raise ValueError(f"The range's {name} must be a finite number.")
        if param.kind == "int" and not isinstance(v, int):
            raise ValueError(f"The range's {name} must be an integer.")
    if step <= 0:
        raise ValueError("The range's step must be greater than 0.")
    if stop < start:
        raise ValueError(f"The range is empty: stop ({stop}) is below start ({start}).")
    param.clean(start)
    param.clean(stop)
    n = _range_length(start, stop, step)
    if n > limit:
        raise ValueError(f"The range holds {n:,} values, more than {limit:,}.")
    if param.kind == "int":
        values = tuple(range(start, stop + 1, step))
    else:  # rounded so 0.1 + 2 * 0.1 reads back as 0.3, as a user typing it would expect
        values = tuple(float(round(start + i * step, 12)) for i in range(n))
    return Dimension(param, values, step=float(step))


def parse_space(
    *, stype: type[StrategyType], raw: Any, fixed: Mapping[str, Any], limit: int
) -> Space:
    """Validate ``raw`` against ``stype``'s parameters; raise ``SpaceInvalid`` naming fields.

    ``limit`` caps the grid (``MAX_SWEEP_COMBINATIONS``); ``fixed`` are the strategy's current
    parameters, used for every parameter the space leaves out.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceInvalid({"space": ["Must be an object naming at least one parameter."]})
    by_name = {p.name: p for p in stype.params}
    errors: dict[str, list[str]] = {}
    dims: list[Dimension] = []
    for name, entry in raw.items():
        param = by_name.get(str(name))
        if param is None:
            errors[str(name)] = [f"Unknown parameter for {stype.key}."]
            continue
        try:
            dims.append(_dimension(param, entry, limit))
        except ValueError as e:
            errors[param.name] = [str(e)]
    if errors:
        raise SpaceInvalid(errors)
    order = {p.name: i for i, p in enumerate(stype.params)}
    dims.sort(key=lambda d: order[d.name])
    return Space(stype=stype, dimensions=tuple(dims), fixed=dict(fixed))


def chunk_sizes(total: int, size: int, *, smallest: int, workers: int) -> list[int]:
    """How many of ``total`` parameter sets each chunk takes, in queue order (they sum to it).

    Chunks of ``size`` while plenty is left, then tapering (guided self-scheduling): each
    chunk takes 1/(2 x ``workers``) of what is left, never fewer than ``smallest``. Workers
    take chunks in queue order, so the last ones to start are the small ones and every worker
    finishes within about one small chunk of the others, instead of the last big chunks
    running alone on one worker while the rest idle. ``workers`` is how many are expected to
    share a sweep; more than that leaves a longer tail, fewer only a few more chunks. With
    ``size <= smallest`` every chunk is ``size`` (the last may be shorter), as without tapering.
    """
    sizes: list[int] = []
    left = total
    while left > 0:
        take = size if size <= smallest else max(smallest, min(size, -(-left // (2 * workers))))
        take = min(take, left)
        sizes.append(take)
        left -= take
    return sizes


def iter_chunks(
    items: list[Any], size: int, *, smallest: int | None = None, workers: int = 1
) -> Iterator[list[Any]]:
    """``items`` in consecutive lists as ``chunk_sizes`` cuts them (no tapering by default)."""
    i = 0
    for n in chunk_sizes(len(items), size, smallest=size if smallest is None else smallest,
                         workers=workers):  # fmt: skip
        yield items[i : i + n]
        i += n
