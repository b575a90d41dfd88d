"""The Indian money filters: ₹ with lakh grouping, half-up paise, signs, non-numbers."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template

from algosaas.templatetags.money import group_indian, inr, inr_signed, ist, lakh, pnl_class


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234567.891, "₹12,34,567.89"),
        (Decimal("1234567.891"), "₹12,34,567.89"),
        ("1234567.891", "₹12,34,567.89"),
        (1234567, "₹12,34,567.00"),
        (Decimal("100000.00"), "₹1,00,000.00"),
        (Decimal("12345678901.5"), "₹12,34,56,78,901.50"),
        (999, "₹999.00"),
        (1000, "₹1,000.00"),
        (Decimal("0.005"), "₹0.01"),  # half-up, as money rounds
        (Decimal("2.675"), "₹2.68"),  # the float 2.675 would round down
        (2.675, "₹2.68"),  # floats are read from their repr, not their binary value
        (0.1, "₹0.10"),
    ],
)
def test_inr_groups_in_lakhs_with_two_decimals(value, expected):
    assert inr(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1234.5, "-₹1,234.50"),
        (Decimal("-1234567.891"), "-₹12,34,567.89"),
        (-0.5, "-₹0.50"),
        (Decimal("-0.001"), "₹0.00"),  # rounds to zero: no minus sign
    ],
)
def test_inr_negatives_put_the_sign_before_the_rupee(value, expected):
    assert inr(value) == expected


@pytest.mark.parametrize("value", [0, 0.0, Decimal("0"), Decimal("-0.00"), "0"])
def test_inr_zero(value):
    assert inr(value) == "₹0.00"


@pytest.mark.parametrize(
    "value", [None, "", "abc", float("nan"), float("inf"), Decimal("NaN"), True, [1], object()]
)
def test_inr_shows_a_dash_for_anything_that_is_not_a_number(value):
    assert inr(value) == "—"


def test_inr_accepts_a_number_of_places():
    assert inr(Decimal("1234567.891"), 0) == "₹12,34,568"
    assert inr(Decimal("1234.5"), "3") == "₹1,234.500"
    assert inr(Decimal("1234.5"), "junk") == "₹1,234.50"


def test_inr_signed_marks_gains_and_losses():
    assert inr_signed(Decimal("1200")) == "+₹1,200.00"
    assert inr_signed(Decimal("-75")) == "-₹75.00"
    assert inr_signed(0) == "₹0.00"
    assert inr_signed(Decimal("0.001")) == "₹0.00"
    assert inr_signed(None) == "—"


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (1234567, None, "12,34,567"),
        (-1234567, None, "-12,34,567"),
        (Decimal("1234567.891"), None, "12,34,567.89"),
        (1234567.891, 1, "12,34,567.9"),
        (Decimal("1234567.891"), 0, "12,34,568"),
        (12, None, "12"),
        (0, None, "0"),
        (None, None, "—"),
    ],
)
def test_lakh_groups_without_a_symbol(value, places, expected):
    assert (lakh(value) if places is None else lakh(value, places)) == expected


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("1", "1"),
        ("123", "123"),
        ("1234", "1,234"),
        ("12345", "12,345"),
        ("123456", "1,23,456"),
        ("1234567", "12,34,567"),
        ("12345678", "1,23,45,678"),
    ],
)
def test_group_indian(digits, expected):
    assert group_indian(digits) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("10.5"), "up"),
        (1, "up"),
        ("250.00", "up"),
        (Decimal("-0.01"), "down"),
        (-3, "down"),
        (0, "zero"),
        (Decimal("0.00"), "zero"),
        (Decimal("0.004"), "zero"),  # below a paisa shows as ₹0.00, so it is not a gain
        (None, ""),
        ("n/a", ""),
    ],
)
def test_pnl_class(value, expected):
    assert pnl_class(value) == expected


def test_the_library_loads_in_templates():
    """`{% load money %}` needs algosaas.templatetags registered with the template engine."""
    html = Template(
        "{% load money %}<td class='{{ p|pnl_class }}'>{{ p|inr }}</td>{{ q|lakh }}"
    ).render(Context({"p": Decimal("-1234567.5"), "q": 250000}))
    assert html == "<td class='down'>-₹12,34,567.50</td>2,50,000"


def test_ist_shows_utc_moments_in_kolkata_time():
    moment = datetime(2026, 1, 15, 3, 45, tzinfo=UTC)  # 09:15 IST, the NSE open
    assert ist(moment) == "15 Jan 2026, 09:15"
    assert ist(moment, "H:i:s") == "09:15:00"
    assert ist(date(2026, 1, 15)) == "15 Jan 2026"
    assert ist(None) == "—"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234.55000000"), "₹1,234.55"),  # an NSE price from an 8-place column
        (Decimal("100.00000000"), "₹100.00"),
        (Decimal("1.23456000"), "₹1.23456"),  # FX on a 0.00001 tick: not rounded to paise
        (Decimal("83.25250000"), "₹83.2525"),  # CDS on a 0.0025 tick
        (Decimal("43210.12345678"), "₹43,210.12345678"),  # crypto on a 1e-8 tick
        (None, "—"),
    ],
)
def test_price_shows_a_price_to_its_own_places(value, expected):
    from algosaas.templatetags.money import price

    assert price(value) == expected


# --- money in the instrument's currency ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("1234567.891"), "INR", "₹12,34,567.89"),  # lakh grouping
        (Decimal("123456789.5"), "INR", "₹12,34,56,789.50"),  # crore
        (Decimal("1234567.891"), "USD", "$1,234,567.89"),  # thousands, not lakhs
        (Decimal("123456789.5"), "usd", "$123,456,789.50"),
        (Decimal("999.999"), "USD", "$1,000.00"),
        (Decimal("1234.5"), "", "₹1,234.50"),  # blank: the account's rupees
        (Decimal("1234.5"), None, "₹1,234.50"),
        (Decimal("1234.5"), "USDT", "USDT 1,234.50"),  # no symbol: the code
    ],
)
def test_money_writes_the_currency_and_its_grouping(value, currency, expected):
    from algosaas.templatetags.money import money

    assert money(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("-1234567.5"), "INR", "-₹12,34,567.50"),
        (Decimal("-1234567.5"), "USD", "-$1,234,567.50"),
        (Decimal("-0.004"), "USD", "$0.00"),  # rounds to zero: no sign
    ],
)
def test_money_negatives_put_the_sign_before_the_symbol(value, currency, expected):
    from algosaas.templatetags.money import money

    assert money(value, currency) == expected


def test_money_signed_and_places():
    from algosaas.templatetags.money import money, money_signed

    assert money_signed(Decimal("1200"), "USD") == "+$1,200.00"
    assert money_signed(Decimal("-75"), "INR") == "-₹75.00"
    assert money_signed(Decimal("0"), "USD") == "$0.00"
    assert money(Decimal("1000000.4"), "USD:0") == "$1,000,000"
    assert money(Decimal("1000000.4"), "INR:0") == "₹10,00,000"
    assert money(None, "USD") == "—"


def test_price_in_dollars_keeps_its_places_and_groups_in_threes():
    from algosaas.templatetags.money import price

    assert price(Decimal("1234.55000000"), "USD") == "$1,234.55"
    assert price(Decimal("1234567.12345"), "USD") == "$1,234,567.12345"
    assert price(Decimal("123456.5"), "INR") == "₹1,23,456.50"


def test_the_money_filters_take_the_currency_in_templates():
    html = Template(
        "{% load money %}{{ p|money:cur }} {{ p|money_signed:cur }} {{ q|price:cur }}"
    ).render(Context({"p": Decimal("1234567.5"), "q": Decimal("530.1"), "cur": "USD"}))
    assert html == "$1,234,567.50 +$1,234,567.50 $530.10"
