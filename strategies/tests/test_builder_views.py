"""The rule builder page (/app/strategies/rules/new/, /app/strategies/<pk>/rules/).

Each test posts what the page's inputs post (fields named by document path) and reads the
re-rendered page back: the canonical document, the inline errors at the condition, the preview.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from strategies import builder
from strategies.catalog.rules import RuleStrategy
from strategies.models import Strategy, StrategyStatus
from strategies.rules import text as rule_text
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NEW = "strategies:builder"


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def strategy_fields(**overrides) -> dict[str, str]:
    data = {
        "name": "My rule",
        "instrument": str(seeded_instrument().pk),
        "timeframe": "1d",
        "sizing": "allocation",
        "quantity": "",
        "allocation_pct": "100",
        "product": "CNC",
        "capital": "100000",
    }
    data.update(overrides)
    return data


def operand(path: str, source: str, **args) -> dict[str, str]:
    out = {f"{path}.source": source}
    out.update({f"{path}.{k}": str(v) for k, v in args.items()})
    return out


def golden_rsi(period: str = "14") -> dict[str, str]:
    """The issue's rule, as the builder's selects post it."""
    p = "entry_long.all"
    return {
        "entry_long.kind": "all",
        **operand(f"{p}[0].left", "sma", period=20),
        f"{p}[0].op": "crosses_above",
        **operand(f"{p}[0].right", "sma", period=50),
        **operand(f"{p}[1].left", "rsi", period=period),
        f"{p}[1].op": "<",
        **operand(f"{p}[1].right", "const", const=60),
        "exits.stop_loss_pct": "2",
        "exits.target_pct": "5",
    }


def condition_html(content: str, path: str) -> str:
    """The HTML of the condition at ``path`` (up to the next condition)."""
    start = content.index(f'data-path="{path}"')
    nxt = content.find('class="rule-condition', start + 1)
    return content[start : nxt if nxt != -1 else len(content)]


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(builder.TEMPLATES))
def test_each_template_renders_its_document(owner_client, key):
    response = owner_client.post(reverse(NEW), {"action": f"template:{key}"}, **HTMX)
    assert response.status_code == 200
    expected = rule_text.document_text(
        builder.parse_document(builder.TEMPLATES[key][1])
    )  # the template's own canonical text
    assert response.context["preview"] == expected
    content = response.content.decode()
    assert 'id="rule-builder"' in content and "<html" not in content  # the partial only
    for line in expected.splitlines():
        assert line.replace("<", "&lt;").replace(">", "&gt;") in content
    for name, value in builder.TEMPLATES[key][1].get("exits", {}).items():
        assert re.search(rf'name="exits\.{name}" value="{re.escape(str(value))}"', content)


def test_new_page_starts_from_the_golden_cross(owner_client):
    response = owner_client.get(reverse(NEW))
    assert response.status_code == 200
    assert response.context["preview"].startswith(
        "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60"
    )
    assert 'name="entry_long.all[1].right.const"' in response.content.decode()


def test_add_and_remove_a_condition_and_a_group(owner_client):
    posted = golden_rsi()
    added = owner_client.post(reverse(NEW), {**posted, "action": "add:entry_long.all"}, **HTMX)
    assert added.context["preview"].startswith(
        "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60 and sma(20) > sma(50)"
    )
    assert 'name="entry_long.all[2].op"' in added.content.decode()

    grouped = owner_client.post(reverse(NEW), {**posted, "action": "group:entry_long.all"}, **HTMX)
    content = grouped.content.decode()
    assert 'name="entry_long.all[2].kind"' in content  # a nested group, with its own all/any
    assert 'name="entry_long.all[2].all[0].left.source"' in content

    # switch the nested group to "any" with two items: the preview parenthesises it
    nested = {
        **posted,
        "entry_long.all[2].kind": "any",
        **operand("entry_long.all[2].all[0].left", "close"),
        "entry_long.all[2].all[0].op": ">",
        **operand("entry_long.all[2].all[0].right", "ema", period=10),
        **operand("entry_long.all[2].all[1].left", "volume"),
        "entry_long.all[2].all[1].op": ">",
        **operand("entry_long.all[2].all[1].right", "const", const=1000),
    }
    response = owner_client.post(reverse(NEW), nested, **HTMX)
    assert "and (close > ema(10) or volume > 1000)" in response.context["preview"]

    removed = owner_client.post(
        reverse(NEW), {**nested, "action": "remove:entry_long.all[0]"}, **HTMX
    )
    assert removed.context["preview"].splitlines()[0] == (
        "entry_long: rsi(14) < 60 and (close > ema(10) or volume > 1000)"
    )
    removed = owner_client.post(
        reverse(NEW), {**nested, "action": "remove:entry_long.all[2]"}, **HTMX
    )
    assert removed.context["preview"] == (
        "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60\nstop_loss: 2%\ntarget: 5%"
    )  # the exits posted with it, printed after the conditions


def test_a_bad_period_shows_its_error_at_that_condition(owner_client):
    response = owner_client.post(reverse(NEW), golden_rsi(period="1"), **HTMX)
    content = response.content.decode()
    assert response.context["errors"] == {"entry_long.all[1].left.period": ["Must be at least 2."]}
    bad = condition_html(content, "entry_long.all[1]")
    assert "rule-condition has-error" in content
    assert "Left period: Must be at least 2." in bad
    assert 'aria-invalid="true"' in bad
    assert "Must be at least" not in condition_html(content, "entry_long.all[0]")
    assert "Fix the highlighted conditions" in content  # no preview of an invalid rule


def test_a_text_parse_error_shows_line_and_column(owner_client):
    text = "entry_long: sma(20) crosses_above\nexit_long: rsi(14) >> 70"
    response = owner_client.post(
        reverse(NEW), {**strategy_fields(), "rule_text": text, "action": "text"}
    )  # a plain post: the text form works without JS
    content = response.content.decode()
    assert "<html" in content
    errors = response.context["text_errors"]
    assert errors and {"line", "column", "message"} <= set(errors[0])
    first = errors[0]
    assert f"Line {first['line']}, column {first['column']}:" in content
    assert first["line"] == 2
    assert text in content.replace("&gt;", ">")  # what was typed stays in the box
    assert not response.context["form"].errors  # no "required" before a save
    assert 'value="My rule"' in content  # the strategy fields typed so far stay too


def test_a_document_text_replaces_the_conditions_and_the_exits(owner_client):
    text = (
        "entry_long: close > donchian_high(20)[1]\nexit_long: close < sma(10)\n"
        "stop_loss: 1.5%\nmax_bars: 10\nexit_at: 9:15"
    )
    response = owner_client.post(
        reverse(NEW), {**golden_rsi(), "rule_text": text, "action": "text"}
    )  # a plain post; the fields held stop 2 % and target 5 %
    canonical = text.replace("9:15", "09:15")
    assert response.context["preview"] == canonical
    assert response.context["rule_text"] == canonical
    content = response.content.decode()
    assert 'name="exits.stop_loss_pct" value="1.5"' in content
    assert 'name="exits.max_bars_in_trade" value="10"' in content
    assert 'name="exits.exit_at" value="09:15"' in content
    assert 'name="exits.target_pct" value=""' in content  # not in the text: removed

    htmx = owner_client.post(
        reverse(NEW), {**golden_rsi(), "rule_text": text, "action": "text"}, **HTMX
    )  # through htmx the exits come back out of band
    assert 'id="rule-exits" hx-swap-oob="true"' in htmx.content.decode()


def test_a_single_condition_replaces_the_entry_and_keeps_the_exits(owner_client):
    response = owner_client.post(
        reverse(NEW), {**golden_rsi(), "rule_text": "close > sma(10)", "action": "text"}
    )
    assert response.context["preview"] == "entry_long: close > sma(10)\nstop_loss: 2%\ntarget: 5%"
    assert 'name="exits.target_pct" value="5"' in response.content.decode()


def test_the_preview_prints_the_exits_and_an_exit_change_refreshes_it(owner_client):
    response = owner_client.get(reverse(NEW))
    assert 'id="rule-exits"' in response.content.decode()
    assert re.search(r'id="rule-exits"[^>]*hx-post="[^"]+"[^>]*hx-target="#rule-builder"',
                     response.content.decode())  # fmt: skip
    changed = owner_client.post(
        reverse(NEW),
        {**golden_rsi(), "exits.trailing_stop_pct": "1.5", "exits.exit_at": "15:10"},
        **HTMX,
    )
    assert changed.context["preview"].splitlines()[1:] == [
        "stop_loss: 2%",
        "target: 5%",
        "trailing_stop: 1.5%",
        "exit_at: 15:10",
    ]
    assert "hx-swap-oob" not in changed.content.decode()  # the exits being typed stay as typed
    bad = owner_client.post(reverse(NEW), {**golden_rsi(), "exits.stop_loss_pct": "70"}, **HTMX)
    assert bad.context["preview"] == ""
    assert "Fix the exits to see the rule: Stop-loss %: Must be at most 50." in (
        bad.content.decode()
    )


# --- saving -----------------------------------------------------------------------------------


def test_create_saves_the_document_and_returns_to_the_builder(owner_client, user):
    response = owner_client.post(
        reverse(NEW), {**strategy_fields(), **golden_rsi(), "action": "save"}
    )
    strategy = Strategy.objects.get(owner=user, name="My rule")
    assert response.status_code == 302
    assert response["Location"] == reverse("strategies:builder_edit", args=[strategy.pk])
    assert strategy.strategy_type == "rules"
    assert strategy.params == {
        "entry_long": {
            "all": [
                {
                    "left": {"indicator": "sma", "period": 20},
                    "op": "crosses_above",
                    "right": {"indicator": "sma", "period": 50},
                },
                {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": {"const": 60.0}},
            ]
        },
        "exits": {"stop_loss_pct": 2.0, "target_pct": 5.0},
    }
    page = owner_client.get(response["Location"]).content.decode()
    assert reverse("backtest_new", args=[strategy.pk]) in page  # "Backtest now"


def test_save_refused_keeps_the_input_and_names_the_condition(owner_client, user):
    response = owner_client.post(
        reverse(NEW),
        {**strategy_fields(name=""), **golden_rsi(period="0"), "action": "save"},
    )
    assert response.status_code == 200
    assert not Strategy.objects.filter(owner=user).exists()
    assert response.context["form"].errors["name"]
    assert "Left period: Must be at least 2." in condition_html(
        response.content.decode(), "entry_long.all[1]"
    )


def test_edit_saves_the_document(owner_client, user):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=RuleStrategy.defaults())
    url = reverse("strategies:builder_edit", args=[strategy.pk])
    page = owner_client.get(url)
    assert page.context["preview"].startswith("entry_long: sma(20) crosses_above sma(50)")
    # the generic edit page sends a rules strategy here
    assert owner_client.get(reverse("strategies:edit", args=[strategy.pk]))["Location"] == url

    posted = {
        **strategy_fields(name="Renamed"),
        **golden_rsi(),
        "entry_long.all[1].right.const": "55",
        "exits.trailing_stop_pct": "1.5",
        "action": "save",
    }
    assert owner_client.post(url, posted).status_code == 302
    strategy.refresh_from_db()
    assert strategy.name == "Renamed"
    assert rule_text.section_texts(strategy.params) == [
        ("entry_long", "sma(20) crosses_above sma(50) and rsi(14) < 55")
    ]
    assert strategy.params["exits"] == {
        "stop_loss_pct": 2.0,
        "target_pct": 5.0,
        "trailing_stop_pct": 1.5,
    }


def test_another_users_strategy_is_a_404(client, other_user, user):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=RuleStrategy.defaults())
    client.force_login(other_user)
    url = reverse("strategies:builder_edit", args=[strategy.pk])
    assert client.get(url).status_code == 404
    assert (
        client.post(url, {**strategy_fields(), **golden_rsi(), "action": "save"}).status_code == 404
    )
    strategy.refresh_from_db()
    assert strategy.name != "My rule"


def test_pages_require_login(client):
    response = client.get(reverse(NEW))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    "posted",
    [
        {"entry_long.all[0].op": ">", "entry_long.all": "x"},
        {"entry_long.all": "x", "entry_long.all[0].op": ">"},
        {"entry_long.all[0].left": "x", "entry_long.all[0].left.source": "sma"},
        {"exits": "x", "exits.stop_loss_pct": "2"},
        {"entry_long.all[0].left.source": "nope", "entry_long.all[0].op": "=="},
        {"entry_long.all[0].left.source": "sma", "entry_long.all[0].left.period": "9" * 5000},
        {"entry_long.all[0].right.source": "const", "entry_long.all[0].right.const": "nan"},
        {"entry_long..all[0]": "x", "entry_long.all[99999].op": ">", "exits.exit_at": "25:99"},
        {"action": "remove:entry_long.all[7].all[0]"},
        {"action": "add:exits"},
        {"action": "template:nope"},
    ],
)
def test_crafted_posts_are_refused_inline_never_a_500(owner_client, posted):
    for extra in ({}, HTMX):
        response = owner_client.post(reverse(NEW), {"action": "save", **posted}, **extra)
        assert response.status_code == 200
        assert response.context["errors"] or response.context["form"].errors
    assert not Strategy.objects.exists()


def test_every_id_is_unique_on_the_page_and_in_the_partial(owner_client, user):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=RuleStrategy.defaults())
    nested = {**golden_rsi(), "action": "group:entry_long.all"}
    for response in (
        owner_client.get(reverse(NEW)),
        owner_client.get(reverse("strategies:builder_edit", args=[strategy.pk])),
        owner_client.post(reverse(NEW), nested, **HTMX),
        owner_client.post(reverse(NEW), {**nested, "action": "template:breakout_atr"}, **HTMX),
    ):
        ids = re.findall(r'\sid="([^"]+)"', response.content.decode())
        assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_no_template_comment_leaks_into_the_page(owner_client):
    content = owner_client.get(reverse(NEW)).content.decode()
    assert "{#" not in content and "{%" not in content


def test_a_running_strategy_keeps_its_rules_and_says_why(owner_client, user):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=RuleStrategy.defaults())
    put_in_status(strategy, StrategyStatus.RUNNING)
    url = reverse("strategies:builder_edit", args=[strategy.pk])
    assert "This strategy is running." in owner_client.get(url).content.decode()
    posted = {**strategy_fields(), **golden_rsi(), "action": "save"}
    response = owner_client.post(url, posted)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()  # the service's refusal, shown
    strategy.refresh_from_db()
    assert strategy.params == RuleStrategy.defaults()


BASKET = ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ITC"]


def test_the_builder_puts_a_rule_on_a_basket_and_edits_it_there(owner_client, user):
    """The builder carries the basket picker: a rule saved with five ticked stocks is a basket
    of five, in the order ticked; the edit page shows them ticked and a save can drop one."""
    ids = [str(seeded_instrument(s).pk) for s in BASKET]
    posted = {**strategy_fields(instrument=""), **golden_rsi(), "basket_form": "1"}
    response = owner_client.post(reverse(NEW), {**posted, "instruments": ids, "action": "save"})
    assert response.status_code == 302
    strategy = Strategy.objects.get(owner=user, name="My rule")
    assert [m.instrument.symbol for m in strategy.members.order_by("position")] == BASKET
    assert strategy.instrument.symbol == BASKET[0]  # the first member is the primary

    url = reverse("strategies:builder_edit", args=[strategy.pk])
    page = owner_client.get(url).content.decode()
    for symbol in BASKET:
        assert re.search(rf'checked data-basket-member="NSE:{symbol}"', page)

    # an htmx edit of the rule redraws only the builder; a full-page redraw keeps the ticks
    redrawn = owner_client.post(url, {**posted, "instruments": ids[:2], "action": "text"})
    ticked = re.findall(r'checked data-basket-member="NSE:(\w+)"', redrawn.content.decode())
    assert ticked == BASKET[:2]  # as ticked, not as stored

    saved = owner_client.post(url, {**posted, "instruments": ids[:4], "action": "save"})
    assert saved.status_code == 302
    assert [m.instrument.symbol for m in strategy.members.order_by("position")] == BASKET[:4]
