"""The orders page (every order of yours, filtered) and its CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from algosaas.csv_export import csv_download
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
    "role",
    "client_order_id",
    "broker_order_id",
)


def _csv_rows(queryset) -> Iterator[tuple[Any, ...]]:
    """One row per order; times in IST, money and quantities as numbers (never as text)."""
    for o in queryset.iterator(chunk_size=2000):
        yield (
            o.pk,
            timezone.localtime(o.created_at, IST),
            timezone.localtime(o.updated_at, IST),
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
            o.role,
            o.client_order_id,
            o.broker_order_id,
        )


@login_required
@require_GET
def order_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered orders as CSV, streamed (times in IST, money as plain decimals).

    Cells go through ``algosaas.csv_export``, so a strategy named like a formula stays text.
    """
    _filters, queryset = _filtered_orders(request)
    stamp = timezone.localtime(timezone.now(), IST).strftime("%Y%m%d-%H%M")
    return csv_download(f"orders-{stamp}.csv", CSV_COLUMNS, _csv_rows(queryset))
