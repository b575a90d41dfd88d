"""The Content-Security-Policy (django-csp): scripts, styles and everything else from our origin.

No ``'unsafe-inline'`` for scripts or styles: the templates keep no inline script, event-handler
attribute or style attribute (``tests/security/test_headers.py`` scans them), htmx's indicator
styles live in app.css and htmx does not "settle" style attributes (base.html's htmx-config).
Two fixed ``<style>`` texts are allowed by their hashes: templates/500.html's, which must render
with no template tags, and the one Lightweight Charts injects for its attribution logo (read
from the vendored file, so an upgrade keeps the hash right).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from csp.constants import NONE, SELF

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)
_INJECTED_STYLE = re.compile(r'createElement\("style"\),this\.\w+\.innerText="([^"]*)"')
CHARTS_JS = "vendor/lightweight-charts/lightweight-charts.standalone.production.js"


def source_hash(text: str) -> str:
    """The CSP source expression allowing exactly ``text`` as an inline style."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def inline_style_hashes(template: Path) -> list[str]:
    """Sources for each ``<style>`` block of a template rendered verbatim."""
    return [source_hash(block) for block in _STYLE_BLOCK.findall(template.read_text())]


def injected_style_hashes(script: Path) -> list[str]:
    """Sources for the fixed style texts a vendored script puts in ``<style>`` elements."""
    return [source_hash(text) for text in _INJECTED_STYLE.findall(script.read_text())]


def content_security_policy(templates_dir: Path, static_dir: Path) -> dict:
    """The ``CONTENT_SECURITY_POLICY`` setting of django-csp."""
    style_hashes = [
        *inline_style_hashes(templates_dir / "500.html"),
        *injected_style_hashes(static_dir / CHARTS_JS),
    ]
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF, *style_hashes],
            # The favicon and Swagger UI's icons are data: URIs.
            "img-src": [SELF, "data:"],
            "connect-src": [SELF],  # htmx polling and, where configured, same-origin WebSockets
            "font-src": [SELF],
            "object-src": [NONE],
            "base-uri": [NONE],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        }
    }
