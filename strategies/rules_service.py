"""The rule language's one service: text in, canonical document out (``POST /api/rules/parse/``).

The language itself is pure Python in ``strategies.rules``; this module turns its errors into the
domain error the API renders (400, each error with its line and column).
"""

from __future__ import annotations

from typing import Any

from strategies.exceptions import RuleTextInvalid
from strategies.rules import text as rule_text


def rules_parse(*, text: str) -> dict[str, Any]:
    """Parse ``text`` into ``{"text": canonical, "document": ...}`` or ``{..., "condition": ...}``.

    Raises ``RuleTextInvalid`` naming the line and column of every error.
    """
    try:
        parsed = rule_text.parse_text(text)
    except rule_text.TextInvalid as e:
        messages = [str(err) for err in e.errors]
        raise RuleTextInvalid(
            f"text: {messages[0]}",
            fields={"text": messages},
            positions=[
                {"line": err.line, "column": err.column, "message": err.message} for err in e.errors
            ],
        ) from None
    if parsed.document is not None:
        return {"text": rule_text.document_text(parsed.document), "document": parsed.json}
    assert parsed.condition is not None  # nosec B101 # one of the two is always set
    return {"text": rule_text.condition_text(parsed.condition), "condition": parsed.json}
