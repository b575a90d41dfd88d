"""SEBI's retail algo framework (circular of 4 Feb 2025; NSE's standards of 5 May 2025) as
rules every real adapter applies: the algo identifier each strategy order carries, and the
order rate per account and exchange segment (docs/compliance.md).

Pure Python: the adapters import it, nothing here knows Django.
"""

from __future__ import annotations

from execution.brokers.ratelimit import Limit

# The exchange-assigned algo id travels at the head of the order's tag (Kite: 20 characters in
# all; Dhan's correlationId: 25 in ours): at most 8 letters and digits, so at least 12
# characters of our client order id's hash remain to find a retried placement by.
ALGO_ID_LENGTH = 8

# Above 10 orders a second per account and exchange segment an algo must be registered with
# the exchange: the platform never goes beyond it, whatever the broker itself allows.
SEGMENT_ORDER_LIMITS: tuple[Limit, ...] = (Limit(10, 1.0),)


def algo_prefix(algo_id: str) -> str:
    """Return the algo identifier as a tag prefix (upper case), ``""`` for none.

    ``ValueError`` for anything but at most ``ALGO_ID_LENGTH`` ASCII letters and digits: an id
    the broker would truncate or refuse must not leave.
    """
    if algo_id and (
        len(algo_id) > ALGO_ID_LENGTH or not algo_id.isascii() or not algo_id.isalnum()
    ):
        raise ValueError(f"algo id {algo_id!r}: at most {ALGO_ID_LENGTH} letters and digits")
    return algo_id.upper()


def segment_key(vendor: str, account_key: str, exchange: str) -> str:
    """The rate-limit key of one account's orders on one exchange segment."""
    return f"{vendor}:{account_key}:segment:{exchange}"
