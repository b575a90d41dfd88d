"""Response headers: a Content-Security-Policy everywhere, and no caching of private answers.

The browser side of the policy (the dashboard's scripts, htmx and the charts run under it with
no violation) is checked in ``tests/browser/test_journey.py`` and ``test_csp.py`` there.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no CSP on {response.wsgi_request.path}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_no_store(response) -> None:
    cache_control = response.headers.get("Cache-Control", "")
    assert "no-store" in cache_control, (response.wsgi_request.path, cache_control)


@pytest.mark.parametrize(
    "path", ["/", "/login/", "/signup/", "/admin/login/", "/api/docs/", "/api/schema/", "/nope/"]
)
def test_every_page_carries_a_strict_policy(client, path):
    directives = policy(client.get(path))

    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]


def test_api_answers_carry_the_policy_and_are_not_stored(client, api_client, user):
    for response in (
        api_client.get("/api/auth/me/"),
        api_client.get("/api/strategies/"),
        client.get("/api/auth/me/"),  # a 401
        client.post("/api/auth/token/", {"email": user.email, "password": TEST_PASSWORD}),
    ):
        assert policy(response)["default-src"] == ["'self'"]
        assert_no_store(response)


@pytest.mark.parametrize("path", ["/app/", "/app/strategies/", "/password/", "/api/docs/"])
def test_logged_in_pages_are_not_stored(client, user, path):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get(path)

    assert response.status_code == 200
    assert_no_store(response)


def test_the_500_page_keeps_its_inline_styles_under_the_policy(client):
    """handler500 renders with no template tags, so its styles stay inline: allowed by hash."""
    html = get_template("500.html").render()
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert styles
    allowed = policy(client.get("/"))["style-src"]
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed


def test_the_charts_attribution_style_is_allowed_by_hash(client):
    """Lightweight Charts puts one fixed style text in a <style> for its attribution logo."""
    from algosaas.contentpolicy import CHARTS_JS, injected_style_hashes, source_hash

    charts = Path(settings.BASE_DIR) / "static" / CHARTS_JS
    hashes = injected_style_hashes(charts)
    assert len(hashes) == 1  # else the library changed how it injects styles: look again
    text = re.search(r'innerText="(a#tv-attr-logo[^"]*)"', charts.read_text()).group(1)
    assert hashes == [source_hash(text)]
    assert hashes[0] in policy(client.get("/"))["style-src"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I)
# ``\s`` or ``}``: an attribute right after a template tag ({% if x %}onsubmit=…) counts too.
HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*[\s}]on[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)
EVAL_ATTRIBUTES = re.compile(r"\s(hx-on[:\w-]*|hx-vars)\s*=|hx-vals\s*=\s*[\"']\s*js:", re.I)


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES) for p in TEMPLATES.rglob("*.html")), ids=str
)
def test_no_template_needs_unsafe_inline(path):
    """What the policy blocks: inline scripts, event-handler and style attributes, js: URLs."""
    text = (TEMPLATES / path).read_text()
    for name, pattern in [
        ("inline <script>", INLINE_SCRIPT),
        ("on* handler attribute", HANDLER_ATTRIBUTE),
        ("style attribute", STYLE_ATTRIBUTE),
        ("javascript: URL", JS_URL),
        ("htmx attribute that evaluates script", EVAL_ATTRIBUTES),
    ]:
        match = pattern.search(text)
        assert match is None, f"{path}: {name}: {match and match.group(0)[:80]}"
    if path != Path("500.html"):  # its styles are allowed by hash, see above
        assert re.search(r"<style[\s>]", text) is None
