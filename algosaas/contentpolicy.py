"""The Content-Security-Policy (django-csp): scripts, styles and everything else from our origin.

No ``'unsafe-inline'`` for scripts or styles: the templates keep no inline script, event-handler
attribute or style attribute (``tests/security/test_headers.py`` scans them), and htmx's own
indicator styles live in app.css. The one exception is templates/500.html, which must render
with no template tags and so keeps its ``<style>`` inline: it is allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from csp.constants import NONE, SELF

_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


def inline_style_hashes(template: Path) -> list[str]:
    """``'sha256-…'`` sources for each ``<style>`` block of a template rendered verbatim."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
        for block in _STYLE_BLOCK.findall(template.read_text())
    ]


def content_security_policy(templates_dir: Path) -> dict:
    """The ``CONTENT_SECURITY_POLICY`` setting of django-csp."""
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF, *inline_style_hashes(templates_dir / "500.html")],
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
