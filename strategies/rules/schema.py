"""The rule document: typed conditions, their validation with field paths, and its JSON schema.

A document is JSON (stored as a strategy's ``params``)::

    {"entry_long": {"all": [
        {"left": {"indicator": "sma", "period": 20}, "op": "crosses_above",
         "right": {"indicator": "sma", "period": 50}},
        {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": {"const": 60}}]},
     "exit_long": {...}}

``parse_document`` turns it into frozen dataclasses or raises ``RuleInvalid`` with every error
keyed by its path (``entry_long.all[1].right.period``); ``to_json`` prints the canonical form
back (what ``validate_params`` stores), so validating a canonical document returns it unchanged.
Limits (bytes, operands, group depth) are checked here, before anything is compiled. Pure
Python, no Django: the compiler and the text form build on these types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from execution.engine.exits import clean_exits, exits_schema

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
OPERATORS = (">", "<", ">=", "<=", "crosses_above", "crosses_below")
SECTIONS = ("entry_long", "exit_long", "entry_short", "exit_short")
EXIT_KEYS = ("stop_loss_pct", "target_pct", "trailing_stop_pct", "max_bars_in_trade", "exit_at")

MAX_BYTES = 16_384  # compact JSON of the whole document
MAX_OPERANDS = 64  # left and right sides, over the whole document
MAX_DEPTH = 3  # groups inside groups
MAX_GROUP_ITEMS = 16
MAX_PERIOD = 1000
MAX_OFFSET = 500
MAX_ABS_CONST = 1e12


@dataclass(frozen=True)
class Arg:
    """One numeric argument of an indicator."""

    name: str
    kind: Literal["int", "float"]
    min: float
    max: float


def _period(minimum: int = 1) -> Arg:
    return Arg("period", "int", minimum, MAX_PERIOD)


# Indicator name -> its arguments, in the order the text form writes them. All read the close,
# except ATR (high, low, close), Donchian (high for _high, low for _low) and VWAP (intraday).
INDICATORS: dict[str, tuple[Arg, ...]] = {
    "sma": (_period(),),
    "ema": (_period(),),
    "rsi": (_period(2),),
    "bb_upper": (_period(2), Arg("width", "float", 0.5, 5)),
    "bb_mid": (_period(2),),
    "bb_lower": (_period(2), Arg("width", "float", 0.5, 5)),
    "donchian_high": (_period(),),
    "donchian_low": (_period(),),
    "atr": (_period(),),
    "macd_line": (Arg("fast", "int", 1, MAX_PERIOD), Arg("slow", "int", 2, MAX_PERIOD)),
    "macd_signal": (
        Arg("fast", "int", 1, MAX_PERIOD),
        Arg("slow", "int", 2, MAX_PERIOD),
        Arg("signal", "int", 1, MAX_PERIOD),
    ),
    "vwap": (),
}


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Price:
    field: str
    offset: int = 0


@dataclass(frozen=True)
class Indicator:
    name: str
    args: tuple[int | float, ...]
    offset: int = 0


Operand = Const | Price | Indicator


@dataclass(frozen=True)
class Comparison:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class Group:
    kind: Literal["all", "any"]
    items: tuple[Condition, ...]


Condition = Comparison | Group


@dataclass(frozen=True)
class RuleDocument:
    """A validated document. ``entry_short`` set means the strategy goes long and short."""

    entry_long: Condition
    exit_long: Condition | None = None
    entry_short: Condition | None = None
    exit_short: Condition | None = None
    # protective exits (``execution.engine.exits``), as sorted (name, value) pairs
    exits: tuple[tuple[str, Any], ...] = ()

    @property
    def long_short(self) -> bool:
        return self.entry_short is not None


Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("entry_long", "all", 1, "right")`` -> ``entry_long.all[1].right``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class RuleInvalid(ValueError):
    """Raised when a document breaks the schema or a limit.

    ``errors`` maps a field path (``entry_long.all[1].right.period``) to its messages, the shape
    ``ParamsInvalid`` carries; ``paths`` keeps the raw paths for the text form's positions.
    """

    def __init__(self, problems: list[tuple[Path, str]]):
        self.paths = problems
        self.errors: dict[str, list[str]] = {}
        for path, message in problems:
            self.errors.setdefault(format_path(path) or "document", []).append(message)
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class _Checker:
    """Walks raw JSON once, collecting every problem with its path."""

    def __init__(self) -> None:
        self.problems: list[tuple[Path, str]] = []
        self.operands = 0

    def fail(self, path: Path, message: str) -> None:
        self.problems.append((path, message))

    def unknown(self, path: Path, key: Any, where: str = "") -> None:
        """Report an unknown key on its parent: a key can be any string, a path cannot."""
        name = repr(str(key)) if len(str(key)) <= 40 else repr(str(key)[:40]) + "..."
        self.fail(path, f"Unknown field {name}{where}.")

    def document(self, raw: Any) -> RuleDocument | None:
        if not isinstance(raw, Mapping):
            self.fail((), "Must be an object.")
            return None
        try:
            size = len(json.dumps(raw, separators=(",", ":"), allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            self.fail((), "Must be plain JSON (objects, arrays, strings and finite numbers).")
            return None
        if size > MAX_BYTES:
            self.fail((), f"The document is {size:,} bytes; the limit is {MAX_BYTES:,} bytes.")
            return None
        for key in raw:
            if key not in (*SECTIONS, "exits"):
                self.unknown((), key)
        exits = self.exits(raw.get("exits"))
        parsed: dict[str, Any] = {}
        for name in SECTIONS:
            value = raw.get(name)
            parsed[name] = None if value is None else self.condition(value, (name,), 0)
        if raw.get("entry_long") is None:
            self.fail(("entry_long",), "This field is required.")
        if raw.get("exit_short") is not None and raw.get("entry_short") is None:
            self.fail(("entry_short",), "Required when exit_short is given.")
        if self.operands > MAX_OPERANDS:
            self.fail(
                (), f"The document has {self.operands} operands; the limit is {MAX_OPERANDS}."
            )
        if self.problems:
            return None
        return RuleDocument(**parsed, exits=exits)

    def exits(self, raw: Any) -> tuple[tuple[str, Any], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping):
            self.fail(("exits",), "Must be an object.")
            return ()
        for key in raw:
            if key not in EXIT_KEYS:
                self.unknown(("exits",), key)
        cleaned, errors = clean_exits(raw)
        for key, message in errors.items():
            self.fail(("exits", key), message)
        return tuple(sorted(cleaned.items()))

    def condition(self, raw: Any, path: Path, depth: int) -> Condition | None:
        if not isinstance(raw, Mapping):
            self.fail(path, "Must be an object: a comparison or an all/any group.")
            return None
        groups = [k for k in ("all", "any") if k in raw]
        if groups:
            return self.group(raw, groups, path, depth)
        for key in raw:
            if key not in ("left", "op", "right"):
                self.unknown(path, key)
        op = raw.get("op")
        if op not in OPERATORS:
            self.fail((*path, "op"), f"Must be one of: {', '.join(OPERATORS)}.")
        left = self.operand(raw.get("left"), (*path, "left"))
        right = self.operand(raw.get("right"), (*path, "right"))
        if isinstance(left, Const) and isinstance(right, Const):
            self.fail(path, "Compares two constants; one side must be a price or an indicator.")
        if left is None or right is None or op not in OPERATORS:
            return None
        return Comparison(left, op, right)

    def group(self, raw: Mapping, groups: list[str], path: Path, depth: int) -> Condition | None:
        extra = [k for k in raw if k not in ("all", "any")]
        if len(groups) > 1 or extra:
            self.fail(path, "A group has exactly one key, all or any.")
            return None
        kind = groups[0]
        if depth >= MAX_DEPTH:
            self.fail(path, f"Groups nest at most {MAX_DEPTH} deep (the depth limit).")
            return None
        items = raw[kind]
        if not isinstance(items, list) or not items:
            self.fail((*path, kind), "Must be a non-empty list of conditions.")
            return None
        if len(items) > MAX_GROUP_ITEMS:
            self.fail((*path, kind), f"At most {MAX_GROUP_ITEMS} conditions in a group.")
            return None
        parsed = [self.condition(item, (*path, kind, i), depth + 1) for i, item in enumerate(items)]
        if any(p is None for p in parsed):
            return None
        # One item is no group at all: stored as the item itself, so the text form agrees.
        return parsed[0] if len(parsed) == 1 else Group(kind, tuple(parsed))  # type: ignore[arg-type]

    def operand(self, raw: Any, path: Path) -> Operand | None:
        self.operands += 1
        if not isinstance(raw, Mapping):
            self.fail(path, "Must be an object: {const}, {price} or {indicator}.")
            return None
        kinds = [k for k in ("const", "price", "indicator") if k in raw]
        if len(kinds) != 1:
            self.fail(path, "Must have exactly one of const, price or indicator.")
            return None
        kind = kinds[0]
        if kind == "const":
            return self.const(raw, path)
        offset = self.offset(raw.get("offset", 0), (*path, "offset"))
        if kind == "price":
            for key in raw:
                if key not in ("price", "offset"):
                    self.unknown(path, key)
            if raw["price"] not in PRICE_FIELDS:
                self.fail((*path, "price"), f"Must be one of: {', '.join(PRICE_FIELDS)}.")
                return None
            return None if offset is None else Price(raw["price"], offset)
        name = raw["indicator"]
        if not isinstance(name, str) or name not in INDICATORS:
            self.fail((*path, "indicator"), f"Must be one of: {', '.join(INDICATORS)}.")
            return None
        spec = INDICATORS[name]
        names = {a.name for a in spec}
        for key in raw:
            if key not in names and key not in ("indicator", "offset"):
                self.unknown(path, key, f" for {name}")
        args = [self.arg(a, raw.get(a.name), (*path, a.name)) for a in spec]
        if offset is None or any(a is None for a in args):
            return None
        if name.startswith("macd") and args[0] >= args[1]:  # type: ignore[operator]
            self.fail((*path, "fast"), f"Must be shorter than slow ({args[1]}).")
            return None
        return Indicator(name, tuple(args), offset)  # type: ignore[arg-type]

    def const(self, raw: Mapping, path: Path) -> Const | None:
        for key in raw:
            if key != "const":
                self.unknown(path, key)
        value = raw["const"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail((*path, "const"), "Must be a number.")
            return None
        if abs(value) > MAX_ABS_CONST or not math.isfinite(value):
            self.fail((*path, "const"), f"Must be a finite number within ±{MAX_ABS_CONST:g}.")
            return None
        return Const(float(value))

    def offset(self, raw: Any, path: Path) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.fail(path, "Must be an integer.")
            return None
        if not 0 <= raw <= MAX_OFFSET:
            self.fail(path, f"Must be between 0 and {MAX_OFFSET}.")
            return None
        return raw

    def arg(self, arg: Arg, raw: Any, path: Path) -> int | float | None:
        if raw is None:
            self.fail(path, "This field is required.")
            return None
        integer = arg.kind == "int"
        if isinstance(raw, bool) or not isinstance(raw, int if integer else int | float):
            self.fail(path, "Must be an integer." if integer else "Must be a number.")
            return None
        if isinstance(raw, float) and not math.isfinite(raw):
            self.fail(path, "Must be a finite number.")
            return None
        if raw < arg.min:
            self.fail(path, f"Must be at least {_fmt(arg.min)}.")
            return None
        if raw > arg.max:
            self.fail(path, f"Must be at most {_fmt(arg.max)}.")
            return None
        return raw if integer else float(raw)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_document(raw: Any) -> RuleDocument:
    """Return the typed document or raise ``RuleInvalid`` naming every bad field by its path."""
    checker = _Checker()
    doc = checker.document(raw)
    if doc is None:
        raise RuleInvalid(checker.problems)
    return doc


def parse_condition(raw: Any, path: Path = ()) -> Condition:
    """Validate one condition on its own (the text form's single-condition input)."""
    checker = _Checker()
    cond = checker.condition(raw, path, 0)
    if checker.operands > MAX_OPERANDS:
        checker.fail(
            path, f"The rule has {checker.operands} operands; the limit is {MAX_OPERANDS}."
        )
    if cond is None or checker.problems:
        raise RuleInvalid(checker.problems)
    return cond


# --- canonical JSON ------------------------------------------------------------------------


def operand_json(op: Operand) -> dict[str, Any]:
    if isinstance(op, Const):
        return {"const": op.value}
    out: dict[str, Any]
    if isinstance(op, Price):
        out = {"price": op.field}
    else:
        out = {"indicator": op.name}
        out.update({a.name: v for a, v in zip(INDICATORS[op.name], op.args, strict=True)})
    if op.offset:
        out["offset"] = op.offset
    return out


def condition_json(cond: Condition) -> dict[str, Any]:
    if isinstance(cond, Group):
        return {cond.kind: [condition_json(c) for c in cond.items]}
    return {"left": operand_json(cond.left), "op": cond.op, "right": operand_json(cond.right)}


def to_json(doc: RuleDocument) -> dict[str, Any]:
    """The canonical JSON of ``doc``: absent sections and empty exits are left out."""
    out: dict[str, Any] = {
        name: condition_json(getattr(doc, name))
        for name in SECTIONS
        if getattr(doc, name) is not None
    }
    if doc.exits:
        out["exits"] = dict(doc.exits)
    return out


# --- JSON schema ---------------------------------------------------------------------------


def _operand_schema() -> dict[str, Any]:
    offset = {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_OFFSET,
        "description": "Bars back: 1 is the previous bar's value (text: close[1]).",
    }
    arg_props: dict[str, Any] = {}
    for spec in INDICATORS.values():
        for a in spec:
            arg_props[a.name] = {
                "type": "integer" if a.kind == "int" else "number",
                "minimum": a.min,
                "maximum": a.max,
            }
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"const": {"type": "number"}},
                "required": ["const"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "price": {"type": "string", "enum": list(PRICE_FIELDS)},
                    "offset": offset,
                },
                "required": ["price"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "description": "Arguments by indicator: "
                + "; ".join(
                    f"{name}({', '.join(a.name for a in spec)})"
                    for name, spec in INDICATORS.items()
                )
                + ".",
                "properties": {
                    "indicator": {"type": "string", "enum": list(INDICATORS)},
                    **arg_props,
                    "offset": offset,
                },
                "required": ["indicator"],
                "additionalProperties": False,
            },
        ]
    }


def _condition_schema(depth: int, operand: dict[str, Any]) -> dict[str, Any]:
    comparison = {
        "type": "object",
        "properties": {
            "left": operand,
            "op": {"type": "string", "enum": list(OPERATORS)},
            "right": operand,
        },
        "required": ["left", "op", "right"],
        "additionalProperties": False,
    }
    if depth >= MAX_DEPTH:
        return comparison
    items = {
        "type": "array",
        "items": _condition_schema(depth + 1, operand),
        "minItems": 1,
        "maxItems": MAX_GROUP_ITEMS,
    }
    group = {
        "type": "object",
        "properties": {"all": items, "any": items},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    }
    return {"oneOf": [comparison, group]}


def condition_schema() -> dict[str, Any]:
    """The JSON schema of one condition (groups unrolled to ``MAX_DEPTH``, no ``$ref``)."""
    return _condition_schema(0, _operand_schema())


def document_schema() -> dict[str, Any]:
    """The JSON schema of a rule document, usable in JSON Schema and in OpenAPI 3.0 alike."""
    cond = condition_schema()
    exits = exits_schema()
    return {
        "type": "object",
        "description": (
            "A rule strategy: conditions at each bar's close. entry_long is required; "
            "entry_short makes the strategy long/short. Limits: "
            f"{MAX_BYTES:,} bytes, {MAX_OPERANDS} operands, groups {MAX_DEPTH} deep."
        ),
        "properties": {**{name: cond for name in SECTIONS}, "exits": exits},
        "required": ["entry_long"],
        "additionalProperties": False,
    }
