"""A JSON body nested absurdly deep is a 400 naming the limit, never a 500.

Found while testing the rule language: DRF's JSON parser let ``RecursionError`` escape on a body
nested about 50,000 deep (``/api/rules/parse/`` answered 500); shallower but still silly bodies
parse and then recurse in whichever validator walks them.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algosaas.api.parsers import MAX_DEPTH, nesting_depth

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2_000, 60_000])
@pytest.mark.parametrize("url", ["/api/rules/parse/", "/api/strategies/", "/api/auth/register/"])
def test_a_body_nested_too_deep_is_refused_with_the_limit(api_client, url, depth):
    response = api_client.generic("POST", url, nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert f"nested more than {MAX_DEPTH} levels" in response.json()["error"]["message"]


def test_a_body_at_the_limit_reaches_the_view(api_client):
    """At the limit the parser hands over and the view answers about its own fields."""
    body = '{"text": ' + nested(MAX_DEPTH - 1) + "}"
    response = api_client.generic(
        "POST", "/api/rules/parse/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested more than" not in response.json()["error"]["message"]
    assert "text" in response.json()["error"]["fields"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=20,
)


def _recursive_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_recursive_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_recursive_depth(v) for v in value), default=0)
    return 0


@given(json_values)
def test_depth_is_counted_as_a_recursive_walk_counts_it(value):
    assert nesting_depth(value) == _recursive_depth(value)
