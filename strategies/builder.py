"""The dashboard's rule builder: form fields <-> rule document, edits, templates, the preview.

Every builder input is named by its document path (``entry_long.all[1].right.period``), the
same path the rule schema puts on its errors, so a refusal lands on the exact input without a
lookup table. The builder keeps no rule of its own: ``from_post`` only reshapes the posted
fields into the raw JSON the rule schema validates (as the catalogue and the service do), and
``apply_action`` edits that raw tree (add/remove a condition or group). Each section is edited
as a group; the canonical document drops one-item groups and ``as_sections`` wraps them again.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from execution.engine.exits import EXIT_HELP, EXIT_LABELS
from strategies.catalog.rules import GOLDEN_CROSS
from strategies.rules import text as rule_text
from strategies.rules.schema import (
    EXIT_KEYS,
    INDICATORS,
    OPERATORS,
    PRICE_FIELDS,
    SECTIONS,
    RuleInvalid,
    parse_document,
)

SECTION_LABELS = {
    "entry_long": "Buy when",
    "exit_long": "Sell (exit the long) when",
    "entry_short": "Short when",
    "exit_short": "Cover (exit the short) when",
}
CONST = "const"
# what a source select newly set to an indicator starts with (its fields were not posted)
ARG_DEFAULTS = {"period": 14, "width": 2, "fast": 12, "slow": 26, "signal": 9}
_TOKEN = re.compile(r"([a-z_]+)|\[(\d+)\]")
_PATH = re.compile(r"[a-z_]+(?:\.[a-z_]+|\[\d{1,3}\])*")


def _cmp(left: dict, op: str, right: dict) -> dict[str, Any]:
    return {"left": left, "op": op, "right": right}


def _ind(name: str, **args: Any) -> dict[str, Any]:
    return {"indicator": name, **args}


TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "golden_cross": ("Golden cross (SMA 20/50, RSI filter)", GOLDEN_CROSS),
    "rsi_dip": (
        "RSI dip-buy (above the 200-day SMA)",
        {
            "entry_long": {
                "all": [
                    _cmp(_ind("rsi", period=14), "crosses_above", {"const": 30}),
                    _cmp({"price": "close"}, ">", _ind("sma", period=200)),
                ]
            },
            "exit_long": _cmp(_ind("rsi", period=14), ">", {"const": 70}),
            "exits": {"stop_loss_pct": 5},
        },
    ),
    "breakout_atr": (
        "Breakout with rising ATR, 3 % stop",
        {
            "entry_long": {
                "all": [
                    _cmp({"price": "close"}, ">", _ind("donchian_high", period=20, offset=1)),
                    _cmp(_ind("atr", period=14), ">", _ind("atr", period=14, offset=5)),
                ]
            },
            "exit_long": _cmp({"price": "close"}, "<", _ind("donchian_low", period=10, offset=1)),
            "exits": {"stop_loss_pct": 3, "trailing_stop_pct": 3},
        },
    ),
    "opening_range": (
        "Opening-range breakout (intraday, out by 15:15)",
        {
            "entry_long": {
                "all": [
                    _cmp({"price": "close"}, ">", _ind("donchian_high", period=15, offset=1)),
                    _cmp({"price": "close"}, ">", _ind("vwap")),
                ]
            },
            "exits": {"stop_loss_pct": 1, "target_pct": 2, "exit_at": "15:15"},
        },
    ),
}


# --- posted fields -> raw document ---------------------------------------------------------


def _tokens(path: str) -> list[str | int] | None:
    if not _PATH.fullmatch(path):
        return None
    return [m.group(1) if m.group(1) else int(m.group(2)) for m in _TOKEN.finditer(path)]


def _number(text: str) -> Any:
    """``"20"`` -> 20, ``"2.5"`` -> 2.5; anything else stays text for the schema to refuse."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.all[0].op": ">"}`` -> ``{"a": {"all": {0: {"op": ">"}}}}`` (indices as dict keys)."""
    tree: dict[Any, Any] = {}
    for key in data:
        parts = _tokens(key)
        if not parts or parts[0] not in (*SECTIONS, "exits"):
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = data[key]
    return tree


def _operand(node: Any) -> dict[str, Any]:
    node = node if isinstance(node, Mapping) else {}  # a crafted post: the schema says what
    source = str(node.get("source") or "")
    offset = _number(str(node.get("offset") or ""))
    if source == CONST:
        return {"const": _number(str(node.get("const") or ""))}
    if source in PRICE_FIELDS:
        out: dict[str, Any] = {"price": source}
    else:
        out = {"indicator": source}
        for arg in INDICATORS.get(source, ()):
            out[arg.name] = (
                _number(str(node[arg.name])) if arg.name in node else ARG_DEFAULTS[arg.name]
            )
    if offset:
        out["offset"] = offset
    return out


def _condition(node: Mapping[str, Any]) -> dict[str, Any]:
    kind = node.get("kind")
    if kind in ("all", "any") or "all" in node or "any" in node:
        items = node.get("all") or node.get("any") or {}
        items = items if isinstance(items, dict) else {}
        kind = kind if kind in ("all", "any") else ("all" if "all" in node else "any")
        return {kind: [_condition(items[i]) for i in sorted(items) if isinstance(items[i], dict)]}
    return {
        "left": _operand(node.get("left") or {}),
        "op": node.get("op"),
        "right": _operand(node.get("right") or {}),
    }


def from_post(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the raw document the builder's posted fields describe (sections as groups).

    An empty section is left out; the schema then says what is missing (``entry_long``).
    """
    tree = _nest(data)
    doc: dict[str, Any] = {}
    for name in SECTIONS:
        if name in tree and isinstance(tree[name], dict):
            cond = _condition(tree[name])
            if cond.get("all") or cond.get("any"):
                doc[name] = cond
    exits = {
        k: (str(v).strip() if k == "exit_at" else _number(str(v)))
        for k, v in (tree["exits"] if isinstance(tree.get("exits"), dict) else {}).items()
        if k in EXIT_KEYS and str(v).strip()
    }
    if exits:
        doc["exits"] = exits
    return doc


# --- edits ----------------------------------------------------------------------------------


def new_comparison() -> dict[str, Any]:
    return _cmp(_ind("sma", period=20), ">", _ind("sma", period=50))


def _locate(doc: dict[str, Any], path: str) -> tuple[Any, Any] | None:
    """Return ``(parent, key)`` of the node at ``path`` in ``doc``, or None."""
    parts = _tokens(path)
    if not parts:
        return None
    node: Any = doc
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and isinstance(parts[-1], str):
        return node, parts[-1]
    if isinstance(node, list) and isinstance(parts[-1], int) and parts[-1] < len(node):
        return node, parts[-1]
    return None


def _child(parent: Any, key: Any) -> Any:
    return parent.get(key) if isinstance(parent, dict) else parent[key]


def apply_action(doc: dict[str, Any], action: str) -> dict[str, Any]:
    """Apply ``add:<group path>``, ``group:<group path>`` or ``remove:<node path>``.

    An unknown action or path leaves the document as it was (a stale page, a crafted post).
    """
    doc = copy.deepcopy(doc)
    verb, _, path = action.partition(":")
    if verb in ("add", "group"):
        section = path.split(".")[0].split("[")[0]
        if section not in SECTIONS:
            return doc
        if path in SECTIONS and path not in doc:  # an empty section gets its first group
            doc[path] = {"all": []}
            path = f"{path}.all"
        elif section in SECTIONS and path == section:
            kind = "all" if "all" in doc[path] else "any"
            path = f"{path}.{kind}"
        found = _locate(doc, path)
        if found is not None and isinstance(_child(*found), list):
            item = new_comparison() if verb == "add" else {"all": [new_comparison()]}
            found[0][found[1]].append(item)
    elif verb == "remove":
        found = _locate(doc, path)
        if found is not None and isinstance(found[0], list):
            del found[0][found[1]]
            if path.count("[") == 1 and not found[0]:  # a section's last condition
                doc.pop(path.split(".")[0], None)
    return doc


def as_sections(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap each section that is one comparison into an ``all`` group the builder can grow."""
    out = dict(doc)
    for name in SECTIONS:
        cond = out.get(name)
        if isinstance(cond, Mapping) and "all" not in cond and "any" not in cond:
            out[name] = {"all": [cond]}
    return out


def template(key: str) -> dict[str, Any] | None:
    entry = TEMPLATES.get(key)
    return as_sections(copy.deepcopy(entry[1])) if entry else None


# --- validation and preview -----------------------------------------------------------------


@dataclass
class Checked:
    """The builder's state after one round trip: what to show, its errors and its text."""

    doc: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""


def check(raw: dict[str, Any]) -> Checked:
    """Validate with the catalogue; the preview is the canonical document's text.

    The builder keeps showing the posted tree: the canonical form drops a one-item group, which
    would undo "+ Group" until its second condition is added. The schema itself, not
    ``RuleStrategy.validate_params``: that one gives an empty document the template (the API's
    default), where the builder must say the entry is missing.
    """
    try:
        doc = parse_document(raw)
    except RuleInvalid as e:
        return Checked(doc=raw, errors={k: list(v) for k, v in e.errors.items()})
    return Checked(doc=raw, text=rule_text.document_text(doc))


# --- rendering ------------------------------------------------------------------------------


def source_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        ("Indicator", [(name, name) for name in INDICATORS]),
        ("Price", [(name, name) for name in PRICE_FIELDS]),
        ("Number", [(CONST, "number")]),
    ]


def _shown(value: Any) -> Any:
    """A value as its input shows it: ``60.0`` as ``60``, ``None`` as blank."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _errors_at(errors: Mapping[str, list[str]], path: str) -> list[str]:
    return list(errors.get(path, ()))


def _operand_view(raw: Any, path: str, errors: Mapping[str, list[str]]) -> dict[str, Any]:
    raw = raw if isinstance(raw, Mapping) else {}
    if "const" in raw:
        source = CONST
    elif "price" in raw:
        source = raw["price"]
    else:
        source = raw.get("indicator") or "sma"
    args = [
        {
            "name": a.name,
            "path": f"{path}.{a.name}",
            "value": _shown(raw.get(a.name)),
            "errors": _errors_at(errors, f"{path}.{a.name}"),
        }
        for a in INDICATORS.get(source, ())
    ]
    return {
        "path": path,
        "source": source,
        "args": args,
        "const": _shown(raw.get("const")),
        "const_errors": _errors_at(errors, f"{path}.const"),
        "offset": raw.get("offset") or "",
        "offset_errors": _errors_at(errors, f"{path}.offset"),
        "errors": _errors_at(errors, path)
        + _errors_at(errors, f"{path}.indicator")
        + _errors_at(errors, f"{path}.price"),
        "has_offset": source != CONST,
    }


def _node_view(raw: Any, path: str, errors: Mapping[str, list[str]], depth: int) -> dict:
    raw = raw if isinstance(raw, Mapping) else {}
    if "all" in raw or "any" in raw:
        kind = "all" if "all" in raw else "any"
        items = raw[kind] if isinstance(raw[kind], list) else []
        return {
            "is_group": True,
            "path": path,
            "kind": kind,
            "items_path": f"{path}.{kind}",
            "items": [
                _node_view(item, f"{path}.{kind}[{i}]", errors, depth + 1)
                for i, item in enumerate(items)
            ],
            "errors": _errors_at(errors, path) + _errors_at(errors, f"{path}.{kind}"),
            "can_nest": depth < 2,
        }
    return {
        "is_group": False,
        "path": path,
        "left": _operand_view(raw.get("left"), f"{path}.left", errors),
        "op": raw.get("op") or "",
        "op_errors": _errors_at(errors, f"{path}.op"),
        "right": _operand_view(raw.get("right"), f"{path}.right", errors),
        "errors": _errors_at(errors, path),
        "has_errors": any(k == path or k.startswith(f"{path}.") for k in errors),
    }


def view(checked: Checked) -> dict[str, Any]:
    """The template context of the builder partial."""
    doc, errors = checked.doc, checked.errors
    sections = [
        {
            "name": name,
            "label": SECTION_LABELS[name],
            "node": _node_view(doc[name], name, errors, 0) if name in doc else None,
            "errors": _errors_at(errors, name) if name not in doc else [],
        }
        for name in SECTIONS
    ]
    exits = doc.get("exits") if isinstance(doc.get("exits"), Mapping) else {}
    return {
        "sections": sections,
        "exits": [
            {
                "name": key,
                "path": f"exits.{key}",
                "label": EXIT_LABELS[key],
                "help": EXIT_HELP[key],
                "value": _shown(exits.get(key)),
                "errors": _errors_at(errors, f"exits.{key}"),
            }
            for key in EXIT_KEYS
        ],
        "document_errors": _errors_at(errors, "document") + _errors_at(errors, "exits"),
        # the exits sit outside the htmx swaps: the preview names their errors instead
        "exit_errors": [
            f"{EXIT_LABELS[key]}: {message}"
            for key in EXIT_KEYS
            for message in _errors_at(errors, f"exits.{key}")
        ],
        "source_choices": source_choices(),
        "operators": OPERATORS,
        "templates": [(key, label) for key, (label, _) in TEMPLATES.items()],
        "preview": checked.text,
        "errors": errors,
    }
