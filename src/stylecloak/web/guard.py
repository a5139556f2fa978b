"""The web app's front gate (ASGI middleware): Host check, origin and token checks, request body cap, security headers.

The server listens on loopback and accepts only the Host names it was started for (no DNS rebinding). Every
state-changing request (POST, DELETE) must come from the app's own origin (``Origin`` / ``Sec-Fetch-Site``) and
carry the per-server token in the ``X-Stylecloak-Token`` header, which the page reads from itself and a
cross-site page or form cannot send. With ``everywhere`` (``--allow-remote``) every request needs the token: in
that header, in a cookie set by opening ``/?token=…``, or in that query parameter.
"""

from __future__ import annotations

import contextlib
import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .uploads import size_text

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_HEADER = "x-stylecloak-token"
TOKEN_COOKIE = "stylecloak-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
]


def error(status: int, message: str) -> JSONResponse:
    """Every error the app answers: JSON ``{"error": message}``, never cached."""
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


def _host(header: str) -> str:
    if header.startswith("["):
        return header[1:].split("]", 1)[0].lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


def _same_origin(scope: Scope, headers: Headers) -> bool:
    """False when a browser says the request comes from another origin (another site, port or scheme)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    return origin is None or origin.lower() == f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()


class Guard:
    """ASGI middleware: Host check, origin and token checks, request body cap (enforced while reading), security headers."""

    def __init__(self, app: ASGIApp, *, max_body: int, hosts: frozenset[str] | None, token: str, everywhere: bool):
        self.app, self.max_body, self.hosts, self.token, self.everywhere = app, max_body, hosts, token, everywhere

    def _has_token(self, headers: Headers, query: dict[str, list[str]], *, header_only: bool) -> bool:
        offered = [headers.get(TOKEN_HEADER, "")]
        if not header_only:
            cookie: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                cookie.load(headers.get("cookie", ""))
            offered += [cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else "", *query.get("token", [])]
        return any(secrets.compare_digest(o.encode(), self.token.encode()) for o in offered if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.hosts is not None and _host(headers.get("host", "")) not in self.hosts:
            await error(400, "Unexpected Host header; open the app at the address `stylecloak serve` printed.")(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self.everywhere and not self._has_token(headers, query, header_only=False):
            await error(401, "This server needs its access token: open the address `stylecloak serve` printed (it ends in ?token=…).")(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            if not _same_origin(scope, headers):
                await error(403, "Cross-site request refused: only the stylecloak page itself may change jobs.")(scope, receive, send)
                return
            if not self._has_token(headers, query, header_only=True):
                await error(403, "Missing or wrong X-Stylecloak-Token header; use the page at the address `stylecloak serve` printed.")(scope, receive, send)
                return
        too_big = f"The upload is larger than {size_text(self.max_body)} in total; send fewer or smaller images at a time."
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await error(413, too_big)(scope, receive, send)
            return
        received = 0
        extra = list(_SECURITY_HEADERS)
        if self.everywhere and query.get("token"):  # remember the token for the page's own requests
            extra.append((b"set-cookie", f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()))

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, too_big)
            return message

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, limited, secured)
