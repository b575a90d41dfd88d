"""The orders page (every order of yours, filtered) and its CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from execution import selectors
from execution.forms import IST, OrderFilterForm
from execution.views.common import paginate
from strategies.views import is_htmx

ORDERS_PAGE_SIZE = 50


def _filtered_orders(request: HttpRequest) -> tuple[OrderFilterForm, Any]:
    filters = OrderFilterForm(request.GET, user=request.user)
    queryset = filters.filter(
        selectors.orders_for_user(user=request.user).select_related("deployment__strategy")
    )
    return filters, queryset


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    filters, queryset = _filtered_orders(request)
    page = paginate(request, queryset, ORDERS_PAGE_SIZE)
    export_query = request.GET.copy()
    export_query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "export_url": reverse("order_export")
        + (f"?{export_query.urlencode()}" if export_query else ""),
        "has_any": bool(page.object_list) or selectors.orders_for_user(user=request.user).exists(),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "order-results":
        context["oob"] = True
        return render(request, "execution/partials/order_results.html", context)
    return render(request, "execution/order_list.html", context)


CSV_COLUMNS = (
    "id",
    "created_at_ist",
    "updated_at_ist",
    "strategy",
    "run",
    "instrument",
    "side",
    "order_type",
    "product",
    "validity",
    "quantity",
    "filled_quantity",
    "pending_quantity",
    "price",
    "trigger_price",
    "average_price",
    "status",
    "status_message",
    "source",
    "client_order_id",
    "broker_order_id",
)


def _plain(value: Any) -> str:
    """Money and prices as plain decimals (no ₹, no grouping); blanks for nothing."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return timezone.localtime(value, IST).isoformat(timespec="seconds")
    return str(value)


class _Echo:
    """A file-like object whose ``write`` hands the line back, for a streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for o in queryset.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _plain(v)
                for v in (
                    o.pk,
                    o.created_at,
                    o.updated_at,
                    o.deployment.strategy.name,
                    o.deployment.number,
                    o.instrument,
                    o.side,
                    o.order_type,
                    o.product,
                    o.validity,
                    o.quantity,
                    o.filled_quantity,
                    o.pending_quantity,
                    o.price,
                    o.trigger_price,
                    o.average_price,
                    o.status,
                    o.status_message,
                    o.source,
                    o.client_order_id,
                    o.broker_order_id,
                )
            ]
        )


@login_required
@require_GET
def order_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered orders as CSV, streamed (times in IST, money as plain decimals)."""
    _filters, queryset = _filtered_orders(request)
    stamp = timezone.localtime(timezone.now(), IST).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return response
