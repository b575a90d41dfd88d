"""A JSON parser that refuses absurdly nested bodies with a 400 instead of a 500.

DRF's ``JSONParser`` lets ``json.loads`` raise ``RecursionError`` on a body nested some tens of
thousands deep, which surfaces as a server error; a body a little less deep parses and then
blows the stack in whichever validator walks it. No document of ours nests beyond a dozen
levels, so anything deeper than ``MAX_DEPTH`` is refused at the door, before any view sees it.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def nesting_depth(value: Any) -> int:
    """Deepest level of lists/objects in ``value``, walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """``JSONParser`` with a nesting limit; the error names the limit."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        message = f"JSON parse error - nested more than {MAX_DEPTH} levels deep."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if nesting_depth(data) > MAX_DEPTH:
            raise ParseError(message)
        return data
