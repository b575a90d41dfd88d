"""The strategy page shows a rule strategy's document as text, one row per section."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from strategies.catalog.rules import GOLDEN_CROSS
from strategies.forms import StrategyForm
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


def test_detail_shows_each_section_as_text(client, user):
    client.force_login(user)
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=GOLDEN_CROSS)
    page = html.unescape(
        client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    )
    assert "Rule builder" in page
    assert "Entry long" in page and "sma(20) crosses_above sma(50) and rsi(14) < 60" in page
    assert "Exit long" in page and "sma(20) crosses_below sma(50)" in page


def test_the_form_cannot_pick_the_rules_type():
    form = StrategyForm({"strategy_type": "rules"})
    assert not form.is_valid()
    assert "strategy_type" in form.errors


def test_detail_shows_the_exits_with_their_semantics(client, user):
    client.force_login(user)
    params = {**GOLDEN_CROSS, "exits": {"stop_loss_pct": 2.0, "target_pct": 5.0}}
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=params)
    page = html.unescape(
        client.get(reverse("strategies:detail", args=[strategy.pk])).content.decode()
    )
    assert "Stop-loss %" in page and "Target %" in page
    assert "the stop is assumed first" in page  # the help text states the semantics
    assert "Trailing stop %" not in page  # not set, not shown


def test_editing_a_built_in_strategy_in_the_dashboard_keeps_its_exits(client, user):
    from strategies.tests.test_views import form_data

    client.force_login(user)
    exits = {"stop_loss_pct": 2.0, "target_pct": 4.0}
    params = {"fast": 10, "slow": 30, "mode": "long_only", "exits": exits}
    strategy = StrategyFactory(owner=user, strategy_type="sma_crossover", params=params)
    url = reverse("strategies:edit", args=[strategy.pk])
    assert client.post(url, form_data(name="Renamed", param_slow="40")).status_code == 302
    strategy.refresh_from_db()
    assert strategy.params == {"fast": 10, "slow": 40, "mode": "long_only", "exits": exits}
