"""The review app's middleware: security headers, session cookies Secure by scheme, and the
trusted reverse proxy's scheme and client address."""

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["APP_CSP", "COOKIE", "SchemeSessions", "TrustedProxy", "security_headers"]

COOKIE = "proctor_review"
"""Name of the session cookie."""

APP_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of the app's own pages: no script of any kind runs."""


async def security_headers(request: Request, call_next: Any) -> Response:
    """Every response's security headers (a handler's own, if it set one, win)."""
    response: Response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", APP_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class SchemeSessions:
    """Starlette's session middleware with the Secure flag set per request: on when the
    request came over https (or always, with `always_secure`)."""

    def __init__(
        self, app: ASGIApp, *, secret_key: str, max_age: int, always_secure: bool = False
    ) -> None:
        def make(secure: bool) -> SessionMiddleware:
            return SessionMiddleware(
                app,
                secret_key=secret_key,
                session_cookie=COOKIE,
                max_age=max_age,
                same_site="lax",
                https_only=secure,
            )

        self.plain = make(always_secure)
        self.tls = make(True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope["type"] == "http" and scope.get("scheme") == "https"
        await (self.tls if secure else self.plain)(scope, receive, send)


class TrustedProxy:
    """Take a request's scheme from ``X-Forwarded-Proto`` and its client address from the
    last ``X-Forwarded-For`` entry (the one the proxy added). Only for an app that nothing
    but the proxy can reach (``ReviewSettings.trust_proxy``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1")
            proto = proto.split(",")[-1].strip().lower()
            hops = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
            scope = dict(scope)
            if proto in ("http", "https"):
                scope["scheme"] = proto
            if hops[-1].strip():
                scope["client"] = (hops[-1].strip(), 0)
        await self.app(scope, receive, send)
