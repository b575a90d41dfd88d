"""The rule language's text form: ``sma(20) crosses_above sma(50) and rsi(14) < 60``.

``parse_text`` turns text into the same JSON the API stores (checked by ``schema``), and
``condition_text``/``document_text`` print it back; printing a parsed text gives the same text
when it was written canonically (single spaces, ``and`` binding tighter than ``or``, nested groups
in parentheses, all indicator arguments given). The grammar is a ``lark`` LALR grammar, so every
error names a line and a column::

    entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60
    exit_long: close < donchian_low(20) or close[1] > bb_upper(20, 2.5)
    stop_loss: 2%
    target: 5%
    trailing_stop: 1.5%
    max_bars: 10
    exit_at: 15:10

Text is either one condition or a whole document: ``section: condition`` lines and one line per
exit (``TEXT_EXITS``: the exits block's keys without their ``_pct``/``_in_trade`` suffixes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from strategies.rules import schema
from strategies.rules.schema import (
    INDICATORS,
    PRICE_FIELDS,
    SECTIONS,
    Comparison,
    Condition,
    Const,
    Group,
    Operand,
    Price,
    RuleDocument,
    RuleInvalid,
)

# The exits' text names -> their JSON keys (``execution.engine.exits``), in printing order.
TEXT_EXITS = {
    "stop_loss": "stop_loss_pct",
    "target": "target_pct",
    "trailing_stop": "trailing_stop_pct",
    "max_bars": "max_bars_in_trade",
    "exit_at": "exit_at",
}
_EXIT_NAMES = {key: name for name, key in TEXT_EXITS.items()}
_PERCENT_EXITS = ("stop_loss_pct", "target_pct", "trailing_stop_pct")

MAX_TEXT = 4000  # characters
MAX_PARENS = 16  # parentheses inside parentheses (groups nest only schema.MAX_DEPTH deep)

GRAMMAR = r"""
start: condition                -> single
     | line+                    -> document
?line: section | exit
section: SECTION ":" condition
SECTION.2: "entry_long" | "exit_long" | "entry_short" | "exit_short"

exit: PCT_EXIT ":" NUMBER "%"   -> pct_exit
    | MAX_BARS ":" INT          -> bars_exit
    | EXIT_AT ":" TIME          -> time_exit
PCT_EXIT.2: /(stop_loss|target|trailing_stop)(?![a-z0-9_])/
MAX_BARS.2: /max_bars(?![a-z0-9_])/
EXIT_AT.2: /exit_at(?![a-z0-9_])/
TIME.2: /\d+:\d+/

?condition: all_expr
          | all_expr ("or" all_expr)+   -> any_group
?all_expr: atom
         | atom ("and" atom)+           -> all_group
?atom: comparison
     | "(" condition ")"
comparison: operand OP operand
OP.2: "crosses_above" | "crosses_below" | ">=" | "<=" | ">" | "<"

operand: NUMBER                         -> const
       | NAME [args] [offset]           -> named
args: "(" [NUMBER ("," NUMBER)*] ")"
offset: "[" INT "]"

NAME: /[a-z_][a-z0-9_]*/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
INT: /\d+/
COMMENT: /#[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)


@dataclass(frozen=True)
class TextError:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class TextInvalid(ValueError):
    """Raised by ``parse_text``; ``errors`` each name a line and a column (1-based)."""

    def __init__(self, errors: list[TextError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Parsed:
    """What a text held: a whole document, or one condition (``document`` is then None)."""

    json: dict[str, Any]
    document: RuleDocument | None
    condition: Condition | None


class _ToJson(Transformer):
    """Builds the API's JSON from the tree, remembering where each object came from."""

    def __init__(self) -> None:
        super().__init__()
        # id(object) -> where it was written; (id(exits), key) -> where that exit's line starts
        self.positions: dict[Any, tuple[int, int]] = {}
        self.errors: list[TextError] = []

    def _at(self, obj: dict, meta_or_token: Any) -> dict:
        self.positions[id(obj)] = (meta_or_token.line, meta_or_token.column)
        return obj

    def _error(self, token: Any, message: str) -> None:
        self.errors.append(TextError(token.line, token.column, message))

    def single(self, children: list) -> tuple[str, Any]:
        return ("condition", children[0])

    def document(self, children: list) -> tuple[str, Any]:
        doc: dict[str, Any] = {}
        exits: dict[str, Any] = {}
        for kind, name_token, key, value, value_token in children:
            into = doc if kind == "section" else exits
            if key in into:
                self._error(name_token, f"{name_token} is given twice.")
            if kind == "exit" and not exits:
                self._at(exits, name_token)
            into[key] = value
            if kind == "exit":
                self.positions[(id(exits), key)] = (value_token.line, value_token.column)
        if exits:
            doc["exits"] = exits
        return ("document", doc)

    # Each line: (kind, its name's token, its key in the JSON, the value, the value's token).
    def section(self, children: list) -> tuple[str, Token, str, Any, Any]:
        return "section", children[0], str(children[0]), children[1], children[0]

    def pct_exit(self, children: list) -> tuple[str, Token, str, Any, Any]:
        name, value = children
        return "exit", name, TEXT_EXITS[str(name)], _number(value), value

    def bars_exit(self, children: list) -> tuple[str, Token, str, Any, Any]:
        name, value = children
        return "exit", name, TEXT_EXITS[str(name)], int(value), value

    def time_exit(self, children: list) -> tuple[str, Token, str, Any, Any]:
        name, value = children
        hours, _, minutes = str(value).partition(":")
        # 9:15 is 09:15 (the block's HH:MM); anything else is the schema's to refuse.
        shown = f"0{hours}:{minutes}" if len(hours) == 1 else str(value)
        return "exit", name, TEXT_EXITS[str(name)], shown, value

    @v_args(meta=True)
    def any_group(self, meta: Any, children: list) -> dict:
        return self._at({"any": children}, meta)

    @v_args(meta=True)
    def all_group(self, meta: Any, children: list) -> dict:
        return self._at({"all": children}, meta)

    @v_args(meta=True)
    def comparison(self, meta: Any, children: list) -> dict:
        left, op, right = children
        return self._at({"left": left, "op": str(op), "right": right}, meta)

    def const(self, children: list) -> dict:
        (token,) = children
        return self._at({"const": _number(token)}, token)

    def named(self, children: list) -> dict:
        name, args, offset = children
        out: dict[str, Any]
        if name in PRICE_FIELDS:
            if args is not None:
                self._error(name, f"{name} is a price field and takes no arguments.")
            out = {"price": str(name)}
        elif name in INDICATORS:
            spec = INDICATORS[name]
            values = [] if args is None else args
            if len(values) != len(spec):
                wanted = ", ".join(a.name for a in spec) or "no arguments"
                self._error(name, f"{name} takes ({wanted}); {len(values)} given.")
            out = {"indicator": str(name)}
            out.update({a.name: v for a, v in zip(spec, values, strict=False)})
        else:
            known = ", ".join((*PRICE_FIELDS, *INDICATORS))
            self._error(name, f"Unknown name {str(name)!r}; expected one of: {known}.")
            out = {"price": str(name)}
        if offset is not None:
            out["offset"] = offset
        return self._at(out, name)

    def args(self, children: list) -> list:
        return [] if children == [None] else [_number(t) for t in children]

    def offset(self, children: list) -> int:
        return int(children[0])


def _number(token: Token) -> int | float:
    text = str(token)
    if text.lstrip("+-").isdigit():
        return int(text)
    return float(text)


def parse_text(text: str) -> Parsed:
    """Parse a condition or a document; raise ``TextInvalid`` naming line and column."""
    if not isinstance(text, str):
        raise TextInvalid([TextError(1, 1, "Must be text.")])
    if len(text) > MAX_TEXT:
        raise TextInvalid(
            [TextError(1, MAX_TEXT + 1, f"The text is {len(text):,} characters; "
                       f"the limit is {MAX_TEXT:,}.")]
        )  # fmt: skip
    _check_nesting(text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as e:
        raise TextInvalid([_syntax_error(e, text)]) from None
    builder = _ToJson()
    try:
        kind, raw = builder.transform(tree)
    except RecursionError:  # a safety net: _check_nesting keeps trees shallow
        raise TextInvalid([TextError(1, 1, "The rule nests too deep.")]) from None
    if builder.errors:
        raise TextInvalid(builder.errors)
    try:
        if kind == "document":
            doc = schema.parse_document(raw)
            return Parsed(schema.to_json(doc), doc, None)
        cond = schema.parse_condition(raw)
        return Parsed(schema.condition_json(cond), None, cond)
    except RuleInvalid as e:
        raise TextInvalid(
            [_locate(raw, path, message, builder.positions) for path, message in e.paths]
        ) from None


def _check_nesting(text: str) -> None:
    """Refuse parentheses nested past ``MAX_PARENS`` before parsing, naming where.

    Groups may nest only ``schema.MAX_DEPTH`` deep anyway; without this a few thousand
    characters of parentheses would exhaust the recursion of the tree walk.
    """
    depth = 0
    line, column = 1, 0
    for ch in text:
        column += 1
        if ch == "\n":
            line, column = line + 1, 0
        elif ch == "(":
            depth += 1
            if depth > MAX_PARENS:
                message = f"Parentheses nest more than {MAX_PARENS} deep (the nesting limit)."
                raise TextInvalid([TextError(line, column, message)])
        elif ch == ")":
            depth -= 1


def _syntax_error(e: UnexpectedInput, text: str) -> TextError:
    at_end = isinstance(e, UnexpectedToken) and e.token.type == "$END"
    if at_end or isinstance(e, UnexpectedEOF) or getattr(e, "line", -1) in (-1, None):
        lines = text.split("\n")
        wanted = getattr(e, "accepts", None) or getattr(e, "expected", None) or ()
        expected = f"; expected {', '.join(sorted(_describe(t) for t in wanted))}" if wanted else ""
        return TextError(len(lines), len(lines[-1]) + 1, f"Unexpected end of the rule{expected}.")
    if isinstance(e, UnexpectedCharacters):
        return TextError(e.line, e.column, f"Unexpected character {text[e.pos_in_stream]!r}.")
    if not isinstance(e, UnexpectedToken):
        return TextError(e.line, e.column, "The rule cannot be read here.")
    expected = sorted(_describe(t) for t in e.accepts or e.expected)
    got = repr(str(e.token))
    hint = ""
    if str(e.token) in _EXIT_NAMES and str(e.token) not in TEXT_EXITS:  # the JSON key
        hint = f" (an exit's line is written {_EXIT_NAMES[str(e.token)]}: ...)"
    message = f"Unexpected {got}; expected {', '.join(expected)}{hint}."
    return TextError(e.line, e.column, message)


_TERMINALS = {
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "NAME": "a name", "NUMBER": "a number", "INT": "an integer", "OP": "an operator",
    "SECTION": "a section name", "AND": "'and'", "OR": "'or'", "$END": "the end",
    "PERCENT": "'%'", "TIME": "a time of day (HH:MM)", "PCT_EXIT": "an exit name",
    "MAX_BARS": "'max_bars'", "EXIT_AT": "'exit_at'",
}  # fmt: skip


def _describe(terminal: str) -> str:
    return _TERMINALS.get(terminal, terminal.lower())


def _locate(
    raw: Any, path: tuple, message: str, positions: dict[Any, tuple[int, int]]
) -> TextError:
    """Map a schema error's path back to the text position of the deepest object on it."""
    where = (1, 1)
    node = raw
    for part in path:
        if id(node) in positions:
            where = positions[id(node)]
        if (id(node), part) in positions:  # an exit's value: its line
            where = positions[(id(node), part)]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(node, dict) and id(node) in positions:
        where = positions[id(node)]
    field = schema.format_path(path)
    if len(path) == 2 and path[0] == "exits" and path[1] in _EXIT_NAMES:
        field = _EXIT_NAMES[path[1]]  # the name the text used
    return TextError(where[0], where[1], f"{field}: {message}" if field else message)


# --- printing ------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def operand_text(op: Operand) -> str:
    if isinstance(op, Const):
        return _number_text(op.value)
    if isinstance(op, Price):
        text = op.field
    else:
        text = op.name
        if op.args:
            text += "(" + ", ".join(_number_text(v) for v in op.args) + ")"
    return f"{text}[{op.offset}]" if op.offset else text


def condition_text(cond: Condition) -> str:
    """Print a condition canonically; nested groups are always parenthesised."""
    if isinstance(cond, Comparison):
        return f"{operand_text(cond.left)} {cond.op} {operand_text(cond.right)}"
    joiner = " and " if cond.kind == "all" else " or "
    return joiner.join(
        f"({condition_text(c)})" if isinstance(c, Group) else condition_text(c) for c in cond.items
    )


def exit_text(key: str, value: Any) -> str:
    """One exit's line: ``stop_loss: 2%``, ``max_bars: 10``, ``exit_at: 15:10``."""
    shown = _number_text(value) + "%" if key in _PERCENT_EXITS else str(value)
    return f"{_EXIT_NAMES[key]}: {shown}"


def document_text(doc: RuleDocument) -> str:
    """Print a document as ``section: condition`` lines then one line per exit, in order."""
    exits = dict(doc.exits)
    return "\n".join(
        [
            *(
                f"{name}: {condition_text(getattr(doc, name))}"
                for name in SECTIONS
                if getattr(doc, name) is not None
            ),
            *(exit_text(key, exits[key]) for key in TEXT_EXITS.values() if key in exits),
        ]
    )


def section_texts(raw: Any) -> list[tuple[str, str]]:
    """``[(section, condition text), ...]`` of a stored document, for a page to show.

    Raises ``RuleInvalid`` if ``raw`` is not a valid document.
    """
    doc = schema.parse_document(raw)
    return [
        (name, condition_text(getattr(doc, name)))
        for name in SECTIONS
        if getattr(doc, name) is not None
    ]


def summary_rows(raw: Any) -> list[tuple[str, str]]:
    """A stored document as rows for a page: each section's condition text, then the exits on
    one row (``stop_loss: 2%, target: 5%``) as the text form writes them, not as JSON.

    Raises ``RuleInvalid`` if ``raw`` is not a valid document.
    """
    rows = section_texts(raw)
    exits = dict(schema.parse_document(raw).exits)
    shown = [exit_text(key, exits[key]) for key in TEXT_EXITS.values() if key in exits]
    if shown:
        rows.append(("exits", ", ".join(shown)))
    return rows
