"""What each order of a run is for: its role, read from the leg suffix of its client order id.

The engine names its legs ``{prefix}-{bar open ts}-{leg}`` (``Engine.leg_id``); the leg says
why the order exists, which a list of orders must show: a reversal sends an exit and an entry
of the same side and size at the same second, told apart only by their role.
"""

from __future__ import annotations

from enum import StrEnum


class OrderRole(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    STOP = "stop"
    TARGET = "target"
    SQUARE_OFF = "square_off"
    MANUAL = "manual"


# Leg suffixes the engine writes (``x``, ``e``, ``sq``), the intraday (MIS) square-off
# (``mis``), and those reserved for protective legs (``sl`` stop-loss, ``tp`` target).
LEG_EXIT = "x"
LEG_ENTRY = "e"
LEG_SQUARE_OFF = "sq"
LEG_MIS_SQUARE_OFF = "mis"
LEG_STOP = "sl"
LEG_TARGET = "tp"

LEG_ROLES: dict[str, OrderRole] = {
    LEG_EXIT: OrderRole.EXIT,
    LEG_ENTRY: OrderRole.ENTRY,
    LEG_SQUARE_OFF: OrderRole.SQUARE_OFF,
    LEG_MIS_SQUARE_OFF: OrderRole.SQUARE_OFF,
    LEG_STOP: OrderRole.STOP,
    LEG_TARGET: OrderRole.TARGET,
}


def order_role(client_order_id: str, *, manual: bool = False) -> OrderRole:
    """The role of an order: ``manual`` when a person placed it, else its leg's.

    An id without a known leg suffix (an older or foreign format) counts as an entry, the
    order that opens exposure, rather than failing the step that records it.
    """
    if manual:
        return OrderRole.MANUAL
    leg = client_order_id.rpartition("-")[2]
    return LEG_ROLES.get(leg, OrderRole.ENTRY)
