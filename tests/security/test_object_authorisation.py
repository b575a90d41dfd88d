"""OWASP API1 (broken object-level authorisation): a sweep of EVERY route in the URL configuration.

The routes are enumerated from ``get_resolver()``, DRF router routes and dashboard pages
included, so a new endpoint is swept the day it is added. Each route whose pattern takes an
object id must be listed in ``ROUTE_OBJECTS`` (which kind of object each id kwarg names) or in
``SHARED_ROUTES`` (catalogue data every user may read); an unlisted id-taking route fails
``test_every_id_taking_route_is_mapped``, so nobody adds an unmapped endpoint silently.

The sweep builds each URL with the ids of the FIRST user's objects and calls it as a SECOND user
(a JWT for /api/, a session for dashboard pages) with GET, POST, PUT, PATCH and DELETE: the
answer is always 404 (405 where the method does not exist), never 2xx, 3xx or 403, and none of the
first user's rows changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern

from execution.models import Instrument
from strategies.models import Strategy
from tests.security.conftest import Estate, build_estate, snapshot

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
NOT_IDS = {"format"}  # kwargs that select a representation, not an object

# Which object kind each id kwarg of each route names (route name, namespaced as in reverse()).
# Trades and positions have no route of their own yet; they are reached through a deployment's,
# and the snapshot checks that none of them changes.
# Routes whose owner may be sent elsewhere for the estate's objects (they are not of its kind).
OWNER_REDIRECTS: dict[str, tuple[int, ...]] = {
    "strategies:builder_edit": (302,),  # the estate's strategies are SMA: edited on the form
}

ROUTE_OBJECTS: dict[str, dict[str, str]] = {
    # API: strategies
    "strategy-detail": {"pk": "strategy"},
    "strategy-archive": {"pk": "strategy"},
    "strategy-deploy": {"pk": "strategy"},
    "strategy-deployments": {"pk": "strategy"},
    "strategy-events": {"pk": "strategy"},
    "strategy-stop": {"pk": "strategy"},
    "strategy-backtests": {"pk": "strategy"},
    # API: execution
    "backtest-detail": {"pk": "backtest"},
    "backtest-equity": {"pk": "backtest"},
    "backtest-trades": {"pk": "backtest"},
    "deployment-detail": {"pk": "deployment"},
    "deployment-equity": {"pk": "deployment"},
    "deployment-positions": {"pk": "deployment"},
    "deployment-trades": {"pk": "deployment"},
    "deployment-orders": {"pk": "deployment"},
    "order-detail": {"pk": "order"},
    "order-events": {"pk": "order"},
    # API: optimisation
    "strategy-optimisations": {"pk": "strategy"},
    "optimisation-detail": {"pk": "sweep"},
    "optimisation-cancel": {"pk": "sweep"},
    "optimisation-results": {"pk": "sweep"},
    "strategy-walk-forward": {"pk": "strategy"},
    "backtest-monte-carlo": {"pk": "backtest"},
    "robustness-detail": {"pk": "robustness_run"},
    "robustness-cancel": {"pk": "robustness_run"},
    # Dashboard: strategies
    "strategies:detail": {"pk": "strategy"},
    "strategies:edit": {"pk": "strategy"},
    "strategies:builder_edit": {"pk": "strategy"},
    "strategies:deploy": {"pk": "strategy"},
    "strategies:stop": {"pk": "strategy"},
    "strategies:archive": {"pk": "strategy"},
    "strategies:delete": {"pk": "strategy"},
    # Dashboard: execution
    "backtest_new": {"pk": "strategy"},
    "backtest_estimate": {"pk": "strategy"},
    "backtest_detail": {"pk": "backtest"},
    "backtest_progress": {"pk": "backtest"},
    "backtest_trades_export": {"pk": "backtest"},
    "deployment_detail": {"pk": "deployment"},
    "deployment_live": {"pk": "deployment"},
    "deployment_equity": {"pk": "deployment"},
    "deployment_chart": {"pk": "deployment"},
    "deployment_order_place": {"pk": "deployment"},
    "deployment_stop": {"pk": "deployment"},
    "order_cancel": {"pk": "order"},
    # Dashboard: optimisation
    "optimisation:sweep_new": {"pk": "strategy"},
    "optimisation:sweep": {"pk": "sweep"},
    "optimisation:sweep_body": {"pk": "sweep"},
    "optimisation:sweep_heatmap": {"pk": "sweep"},
    "optimisation:sweep_results": {"pk": "sweep"},
    "optimisation:sweep_cancel": {"pk": "sweep"},
    "optimisation:sweep_save": {"pk": "sweep"},
    "optimisation:sweep_backtest": {"pk": "sweep"},
    "optimisation:sweep_walk_forward": {"pk": "sweep"},
    "optimisation:sweep_monte_carlo": {"pk": "sweep"},
    "optimisation:robustness": {"pk": "robustness_run"},
    "optimisation:robustness_body": {"pk": "robustness_run"},
    "optimisation:robustness_cancel": {"pk": "robustness_run"},
    # API and dashboard: broker accounts
    "broker-account-detail": {"pk": "broker_account"},
    "brokers:login": {"pk": "broker_account"},
    "brokers:unlink": {"pk": "broker_account"},
    "broker-account-token": {"pk": "broker_account"},
    "brokers:dhan_token": {"pk": "broker_account"},
    "broker-account-reconcile": {"pk": "broker_account"},
    "brokers:reconcile": {"pk": "broker_account"},
    # API and dashboard: notifications
    "notification-webhook-detail": {"pk": "webhook"},
    "notification-webhook-test": {"pk": "webhook"},
    "notification-delivery-detail": {"pk": "delivery"},
    "notifications:webhook_toggle": {"pk": "webhook"},
    "notifications:webhook_delete": {"pk": "webhook"},
    "notifications:webhook_test": {"pk": "webhook"},
}

# Routes whose id names shared catalogue data: every user reads them, nobody writes them.
SHARED_ROUTES: dict[str, dict[str, str]] = {
    "strategy-type-detail": {"key": "strategy_type"},
    "instrument-detail": {"pk": "instrument"},
}

# A body that would be valid for the owner on the write endpoints, so that only the ownership
# check stands between the second user and a change.
WRITE_BODY = {
    "name": "Hijacked",
    "quantity": 1,
    "side": "BUY",
    "order_type": "MARKET",
    "square_off": True,
    "feed": "synthetic",
}


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, as reverse() takes it; "" when the route has no name
    route: str  # the pattern text, for messages
    kwargs: frozenset[str]

    @property
    def ids(self) -> frozenset[str]:
        return self.kwargs - NOT_IDS

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")


def _kwargs(pattern) -> set[str]:
    if isinstance(pattern, RoutePattern):  # path(): <int:pk>
        return set(pattern.converters)
    return set(pattern.regex.groupindex)  # re_path() and DRF's router: (?P<pk>...)


def walk(patterns=None, prefix: str = "", namespace: tuple[str, ...] = (), kwargs=frozenset()):
    """Yield every route of the URL configuration, recursively through every include()."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        here = kwargs | _kwargs(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace + ((entry.namespace,) if entry.namespace else ())
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns, here)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespace, entry.name)) if entry.name else ""
            yield Route(name, prefix + str(entry.pattern), frozenset(here))


ROUTES = list(walk())
# Routes whose ids are a signed, single-use link rather than an object of someone's: the token
# authorises, not the session (forged and reused links: accounts/tests/test_pages.py).
# Dhan's postback URL carries the account's postback token: no session at all (brokers tests).
SIGNED_LINK_ROUTES = {"signup_confirm", "broker-dhan-postback"}
ID_ROUTES = [r for r in ROUTES if r.ids and not r.is_admin and r.name not in SIGNED_LINK_ROUTES]


def test_the_walk_finds_the_router_and_dashboard_routes():
    names = {r.name for r in ROUTES}
    assert {"strategy-detail", "order-events", "strategies:detail", "overview"} <= names
    assert len(ID_ROUTES) >= 20


def test_every_id_taking_route_is_mapped():
    unmapped = [
        f"{r.name or '(unnamed)'}: {r.route} takes {sorted(r.ids)}"
        for r in ID_ROUTES
        if set(ROUTE_OBJECTS.get(r.name, SHARED_ROUTES.get(r.name, {}))) != set(r.ids)
    ]
    assert not unmapped, (
        "Routes taking object ids that the authorisation sweep does not know; add each to "
        "ROUTE_OBJECTS (an owned object) or SHARED_ROUTES (shared data):\n" + "\n".join(unmapped)
    )


def test_the_table_names_only_existing_routes():
    names = {r.name for r in ID_ROUTES}
    stale = sorted((set(ROUTE_OBJECTS) | set(SHARED_ROUTES)) - names)
    assert not stale, f"routes gone from the URL configuration: {stale}"


def _urls(route: Route, ids: dict[str, list]) -> Iterator[str]:
    """Every URL of ``route`` built with each of the objects of the mapped kind."""
    mapping = ROUTE_OBJECTS.get(route.name) or SHARED_ROUTES[route.name]
    (kwarg, kind), *more = mapping.items()
    assert not more, "routes with two ids need a combined walk here"
    extra = {"format": "json"} if "format" in route.kwargs else {}
    for value in ids[kind]:
        yield reverse(route.name, kwargs={kwarg: value, **extra})


def _call(client, method: str, url: str, *, api: bool):
    if api:
        return getattr(client, method)(url, WRITE_BODY if method != "get" else None, format="json")
    if method in ("get", "post"):
        return getattr(client, method)(url, {} if method == "get" else WRITE_BODY)
    return getattr(client, method)(url, "", content_type="application/x-www-form-urlencoded")


@pytest.fixture
def sweep(user, other_user, api_client, other_client):
    estate = build_estate(user)
    session = Client()
    session.force_login(other_user, backend="django.contrib.auth.backends.ModelBackend")
    owner_session = Client()
    owner_session.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return estate, {"api": other_client, "web": session}, {"api": api_client, "web": owner_session}


def test_no_route_lets_another_user_reach_an_object(sweep, other_user):
    estate, intruder, owner = sweep
    ids = {**estate.ids, "instrument": [estate.running.instrument_id]}
    before = snapshot(estate.owner)
    other_before = snapshot(other_user)
    failures: list[str] = []
    for route in ID_ROUTES:
        if route.name in SHARED_ROUTES:
            continue
        kind = "api" if route.is_api else "web"
        for url in _urls(route, ids):
            # The owner reaches the object: the id is real and the route really exists.
            mine = owner[kind].get(url)
            if mine.status_code not in (200, 405, *OWNER_REDIRECTS.get(route.name, ())):
                failures.append(f"owner GET {url} -> {mine.status_code} (bad fixture or route)")
            for method in METHODS:
                response = _call(intruder[kind], method, url, api=route.is_api)
                if response.status_code not in (404, 405):
                    failures.append(f"{method.upper()} {url} -> {response.status_code}")
                if method != "get" and snapshot(estate.owner) != before:
                    failures.append(f"{method.upper()} {url} changed the owner's rows")
                    before = snapshot(estate.owner)
    assert snapshot(other_user) == other_before, "the intruder created rows of its own"
    assert not failures, "\n".join(failures)


def test_a_404_for_a_foreign_object_looks_like_a_404_for_a_missing_one(
    user, other_user, other_client
):
    estate = build_estate(user)
    missing = Strategy.objects.order_by("-pk").first().pk + 1000
    for path in ("/api/strategies/{}/", "/api/strategies/{}/backtests/"):
        foreign = other_client.get(path.format(estate.running.pk))
        absent = other_client.get(path.format(missing))
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json() == absent.json()


def test_shared_catalogue_routes_are_readable_but_not_writable(user, other_client):
    instrument = Instrument.objects.first()
    for url in (f"/api/instruments/{instrument.pk}/", "/api/strategy-types/sma_crossover/"):
        assert other_client.get(url).status_code == 200
        for method in ("post", "put", "patch", "delete"):
            assert getattr(other_client, method)(url, {}, format="json").status_code == 405


def test_admin_object_routes_turn_a_non_staff_user_away(user, other_user):
    """The admin is staff-only: a signed-in customer is sent to the admin log-in, changing
    nothing, whatever object id the admin URL names."""
    estate = build_estate(user)
    session = Client()
    session.force_login(other_user, backend="django.contrib.auth.backends.ModelBackend")
    before = snapshot(estate.owner)
    values = {
        "object_id": estate.running.pk,
        "id": estate.owner.pk,  # the user admin's password-change page
        "content_type_id": ContentType.objects.get_for_model(Strategy).pk,
        "app_label": "strategies",
        "url": f"strategies/strategy/{estate.running.pk}/change/",  # the admin's catch-all
    }
    admin_routes = [r for r in ROUTES if r.is_admin and r.ids]
    assert len(admin_routes) > 20
    for route in admin_routes:
        if route.name:
            url = reverse(route.name, kwargs={k: values[k] for k in route.kwargs})
        else:  # the admin's unnamed "<path:object_id>/" redirects to the change page
            url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), route.route)
        for method in METHODS:
            response = getattr(session, method)(url)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith("/admin/login/"), (method, url)
    assert snapshot(estate.owner) == before


# --- Lists never show another user's rows --------------------------------------------------


API_LISTS = [
    "/api/strategies/",
    "/api/strategies/?archived=true",
    "/api/orders/",
    "/api/deployments/",
    "/api/backtests/",
    "/api/optimisations/",
    "/api/notifications/webhooks/",
    "/api/notifications/deliveries/",
]


def test_api_lists_never_show_another_users_rows(user, other_client):
    estate = build_estate(user)
    for url in API_LISTS:
        body = other_client.get(url).json()
        assert body["count"] == 0 and body["results"] == [], (url, body)
    # Filtering by the owner's ids does not reach them either.
    filters = [
        f"/api/orders/?deployment={estate.deployment.pk}",
        f"/api/orders/?strategy={estate.running.pk}",
        f"/api/deployments/?strategy={estate.running.pk}",
        f"/api/backtests/?strategy={estate.running.pk}",
        f"/api/optimisations/?strategy={estate.running.pk}",
    ]
    for url in filters:
        body = other_client.get(url).json()
        assert body["count"] == 0, (url, body)


def test_the_owner_sees_the_same_lists_full(user, api_client):
    build_estate(user)
    for url in API_LISTS[:1] + API_LISTS[2:]:
        assert api_client.get(url).json()["count"] > 0, url


def test_no_list_or_page_without_ids_shows_another_users_rows(user, other_user, other_client):
    """Every GET route without an object id (API lists and dashboard pages alike) is free of
    the owner's marker text, client order ids and deployment ids."""
    estate = build_estate(user)
    session = Client()
    session.force_login(other_user, backend="django.contrib.auth.backends.ModelBackend")
    secrets = [estate.marker, estate.manual_order.client_order_id]
    checked = []
    for route in ROUTES:
        if route.ids or route.is_admin or route.kwargs:
            continue
        url = reverse(route.name) if route.name else "/" + route.route
        client = other_client if route.is_api else session
        response = client.get(url)
        if response.status_code != 200 or response.get("Content-Type", "").startswith("image"):
            continue
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(errors="replace")
        for secret in secrets:
            assert secret not in text, (url, secret)
        checked.append(url)
    assert {"/app/", "/app/strategies/", "/api/orders/"} <= set(checked)


def test_dashboard_lists_never_show_another_users_rows(user, other_user):
    estate = build_estate(user)
    session = Client()
    session.force_login(other_user, backend="django.contrib.auth.backends.ModelBackend")
    owner = Client()
    owner.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    pages = ["/app/", "/app/strategies/", "/app/strategies/?status=archived"]
    pages += [reverse(n) for n in ("deployment_list", "backtest_list", "order_list")]
    for url in pages:
        assert estate.marker not in session.get(url).content.decode(), url
    assert estate.marker in owner.get("/app/strategies/").content.decode()


def test_the_estate_really_exists(estate: Estate):
    """Guards the sweep: every kind of object it aims at is there, owned by the first user."""
    assert estate.deployment.strategy.owner == estate.owner
    assert all(estate.ids[kind] for kind in ("strategy", "deployment", "order", "backtest"))
    assert json.dumps(estate.ids)
