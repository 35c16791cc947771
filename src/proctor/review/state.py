"""What every route of the review app shares, passed explicitly: the app's state (on
``app.state.review``), who is asking (the login and CSRF dependencies), rendering a page, and
the error pages of the app's exception handlers."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from proctor.live.db import LiveStore
from proctor.review.auth import (
    CSRF_FIELD,
    Credentials,
    Login,
    LoginThrottle,
    Sessions,
    check_csrf,
    csrf_token,
    throttle_keys,
)
from proctor.review.inputs import reason
from proctor.review.settings import ReviewSettings

__all__ = [
    "LoginRequired",
    "Reader",
    "ReviewState",
    "State",
    "Writer",
    "client_address",
    "current_login",
    "error_page",
    "install_error_handlers",
    "render",
    "require_login",
    "require_write",
    "review_state",
    "too_many",
]


@dataclass(frozen=True)
class ReviewState:
    """Everything the routes of one app share, built once by ``create_app``."""

    settings: ReviewSettings
    store: LiveStore
    sessions: Sessions
    creds: Credentials
    throttle: LoginThrottle
    templates: Jinja2Templates
    css: str
    """The stylesheet served at /static/style.css."""
    runs: list[Path]
    """The bench run folders served under /bench, in the settings' order."""


def review_state(request: Request) -> ReviewState:
    """The state of the app serving `request` (``app.state.review``)."""
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(review_state)]


class LoginRequired(Exception):
    """Raised by pages and writes that need a login when there is none."""


# --- who is asking ----------------------------------------------------------------------


def current_login(request: Request) -> Login | None:
    creds = review_state(request).creds
    header = creds.from_header(request.headers.get("authorization"))
    if header is False:
        raise HTTPException(
            401,
            "the Authorization header is not a valid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(header, Login):
        return header
    return creds.from_session(request.session)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def too_many(wait: int) -> str:
    return f"Too many failed logins from this address or for this user name: try again in {wait} s."


def require_login(request: Request) -> Login:
    if request.headers.get("authorization") is None:
        login = current_login(request)
    else:  # a wrong bearer token is a failed login of its address, rate-limited too
        throttle = review_state(request).throttle
        keys = throttle_keys(client_address(request), "")
        wait = throttle.retry_after(keys)
        if wait is not None:
            raise HTTPException(429, too_many(wait), headers={"Retry-After": str(wait)})
        try:
            login = current_login(request)
        except HTTPException:
            throttle.failed(keys)
            raise
        throttle.succeeded(keys)
    if login is None:
        raise LoginRequired()
    return login


def require_write(
    request: Request,
    login: Annotated[Login, Depends(require_login)],
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Login:
    """A login, and for cookie logins the session's CSRF token in the form."""
    if not login.bearer and not check_csrf(request.session, csrf):
        raise HTTPException(
            403, "missing or wrong CSRF token: reload the page and submit the form again"
        )
    return login


Reader = Annotated[Login, Depends(require_login)]
Writer = Annotated[Login, Depends(require_write)]


# --- pages and error pages --------------------------------------------------------------


def render(
    request: Request,
    name: str,
    login: Login | None,
    context: dict[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    csrf = "" if login is not None and login.bearer else csrf_token(request.session)
    page = {"login": login, "csrf": csrf, "csrf_field": CSRF_FIELD, **context}
    page.setdefault("active", "")
    return review_state(request).templates.TemplateResponse(
        request, name, page, status_code=status_code, headers=headers
    )


TITLES = {
    400: "Bad request",
    401: "Log in first",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Refused input",
    429: "Too many attempts",
}
"""The error page's title by status (``Error`` for any other)."""


def error_page(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    try:
        login = current_login(request)
    except HTTPException:
        login = None
    return render(
        request,
        "error.html",
        login,
        {"status": status, "title": TITLES.get(status, "Error"), "message": message},
        status_code=status,
        headers=headers,
    )


async def on_login_required(request: Request, exc: LoginRequired) -> Response:
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)
    return error_page(request, 401, "This needs a login. Log in and try again.")


async def on_http_error(request: Request, exc: HTTPException) -> Response:
    return error_page(request, exc.status_code, str(exc.detail), exc.headers)


async def on_bad_input(request: Request, exc: RequestValidationError) -> Response:
    """A 422 with one line naming the refused input and what it allows (JSON for a
    client that asks for JSON, else the error page); nothing is logged."""
    line = reason(exc, request.scope.get("route"))
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse({"detail": line}, status_code=422)
    return error_page(request, 422, line)


def install_error_handlers(app: FastAPI) -> None:
    """Answer a missing login, an HTTP error and a refused input with the app's pages."""
    app.exception_handler(LoginRequired)(on_login_required)
    app.exception_handler(HTTPException)(on_http_error)
    app.exception_handler(RequestValidationError)(on_bad_input)
