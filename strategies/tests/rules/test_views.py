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
