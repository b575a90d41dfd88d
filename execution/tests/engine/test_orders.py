"""The order state machine, exhaustively: every edge allowed, every other pair refused."""

import itertools

import pytest

from execution.engine.orders import (
    INITIAL_STATUSES,
    ORDER_TRANSITIONS,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    InvalidOrderTransition,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Product,
    Side,
    Validity,
    order_initial_status,
    order_next_status,
)

S, T = OrderStatus, OrderTrigger

EXPECTED = {
    (S.PENDING, T.ACCEPT): S.OPEN,
    (S.PENDING, T.ACCEPT_STOP): S.TRIGGER_PENDING,
    (S.TRIGGER_PENDING, T.TRIGGER): S.OPEN,
    (S.OPEN, T.MODIFY): S.OPEN,
    (S.TRIGGER_PENDING, T.MODIFY): S.TRIGGER_PENDING,
    (S.PARTIALLY_FILLED, T.MODIFY): S.PARTIALLY_FILLED,
    **{(s, T.FILL_PARTIAL): S.PARTIALLY_FILLED for s in WORKING_STATUSES},
    **{(s, T.FILL): S.COMPLETE for s in WORKING_STATUSES},
    **{(s, T.CANCEL): S.CANCELLED for s in WORKING_STATUSES},
    **{(s, T.REJECT): S.REJECTED for s in WORKING_STATUSES},
    **{(s, T.EXPIRE): S.EXPIRED for s in WORKING_STATUSES},
}


def test_table_is_exactly_the_expected_edges():
    assert ORDER_TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("edge", "target"), sorted(EXPECTED.items()))
def test_every_edge_is_allowed(edge, target):
    assert order_next_status(*edge) is target
    # plain strings (a database column) work the same
    assert order_next_status(str(edge[0]), str(edge[1])) == target


@pytest.mark.parametrize("pair", [p for p in itertools.product(S, T) if p not in EXPECTED], ids=str)
def test_every_other_pair_is_refused(pair):
    with pytest.raises(InvalidOrderTransition) as err:
        order_next_status(*pair)
    assert err.value.status is pair[0]
    assert err.value.trigger is pair[1]
    assert pair[0].value in str(err.value)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_never_change(status):
    for trigger in T:
        with pytest.raises(InvalidOrderTransition):
            order_next_status(status, trigger)


def test_status_sets():
    assert set(S) == TERMINAL_STATUSES | WORKING_STATUSES
    assert not TERMINAL_STATUSES & WORKING_STATUSES
    # DENIED is reachable only at creation
    assert S.DENIED not in ORDER_TRANSITIONS.values()
    assert {S.PENDING, S.DENIED} == INITIAL_STATUSES
    assert order_initial_status() is S.PENDING
    assert order_initial_status(denied=True) is S.DENIED


def test_every_working_status_can_reach_a_final_one():
    for s in WORKING_STATUSES:
        assert {
            ORDER_TRANSITIONS[(s, t)] for t in (T.FILL, T.CANCEL, T.EXPIRE)
        } <= TERMINAL_STATUSES


def test_enum_string_values():
    assert [m.value for m in OrderType] == ["MARKET", "LIMIT", "SL", "SL-M"]
    assert [m.value for m in Side] == ["BUY", "SELL"]
    assert [m.value for m in Product] == ["CNC", "MIS", "NRML"]
    assert [m.value for m in Validity] == ["DAY", "IOC"]
    assert OrderType("SL-M") is OrderType.SLM
    assert len(S) == 9


def test_unknown_values_raise_value_error():
    with pytest.raises(ValueError):
        order_next_status("NOPE", "FILL")
