"""Security headers on every response, set in one place (an ASGI middleware).

- Content-Security-Policy: scripts only from this origin, never inline; styles from this origin
  or an inline ``<style>`` carrying the response's nonce (``request.state.csp_nonce``: the page's
  accent colour, and the widget's own style sheet, which takes the nonce of the script tag that
  loaded it, so it also works on a host page with a strict policy of its own). Images may come
  from https (answers may show them) and blob URLs (attachments the widget fetched); no
  plugins, no ``<base>``, forms post only here.
- frame-ancestors: ``'none'`` everywhere (plus X-Frame-Options: DENY for older browsers), except
  the demo page and the full-page chat, which the sites in ``CHATBOT_FRAME_ANCESTORS`` may frame.
- X-Content-Type-Options: nosniff; Referrer-Policy: same-origin (console URLs hold conversation
  ids and searches); Strict-Transport-Security over https.
- Cache-Control: no-store on everything but static files and the public pages, so consoles,
  sign-in and every JSON answer (customers' transcripts included) stay out of shared caches and
  the browser's history cache.

A route that sets one of these headers itself keeps its own value.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages other sites may frame (the widget itself is a script, not a frame).
FRAMEABLE = frozenset({"/", "/chat"})
CACHEABLE_PREFIXES = ("/static/",)
CACHEABLE = frozenset({"/", "/chat", "/widget.js"})
# FastAPI's interactive docs load Swagger UI / ReDoc from their CDN with an inline script.
DOCS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
DOCS_CDN = "https://cdn.jsdelivr.net"


def content_security_policy(path: str, nonce: str, frame_ancestors: Sequence[str]) -> str:
    """The policy for a response to ``path``.

    >>> content_security_policy("/staff", "abc", ["'self'"]).split("; ")[:3]
    ["default-src 'self'", "script-src 'self'", "style-src 'self' 'nonce-abc'"]
    >>> content_security_policy("/chat", "abc", ["https://shop.example"]).split("; ")[-1]
    'frame-ancestors https://shop.example'
    """
    ancestors = (" ".join(frame_ancestors) if path in FRAMEABLE else "") or "'none'"
    if path in DOCS:
        scripts = f"'self' 'unsafe-inline' {DOCS_CDN}"
        styles = f"'self' 'unsafe-inline' {DOCS_CDN}"
    else:
        scripts, styles = "'self'", f"'self' 'nonce-{nonce}'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            f"style-src {styles}",
            # blob: the widget shows a customer's attachments from blob URLs, having fetched
            # them with the conversation's token (which never goes in a URL).
            "img-src 'self' data: blob: https:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


class SecurityHeaders:
    """Adds the headers above to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp, frame_ancestors: Sequence[str]) -> None:
        self.app = app
        self.frame_ancestors = list(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path: str = scope["path"]
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = {
                    "Content-Security-Policy": content_security_policy(
                        path, nonce, self.frame_ancestors
                    ),
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin",
                }
                if path not in FRAMEABLE:
                    wanted["X-Frame-Options"] = "DENY"
                if path not in CACHEABLE and not path.startswith(CACHEABLE_PREFIXES):
                    wanted["Cache-Control"] = "no-store"
                if https:
                    wanted["Strict-Transport-Security"] = "max-age=31536000"
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
