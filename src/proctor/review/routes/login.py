"""The review app's login and logout: the login form, a login by user name and password or
by token (CSRF-checked, rate-limited per client address and per user name), and logging out
(which revokes the session server-side)."""

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from proctor.review.auth import CSRF_FIELD, TOKEN_USER, check_csrf, throttle_keys
from proctor.review.state import State, Writer, client_address, render, too_many

__all__ = ["router", "safe_next"]

router = APIRouter()


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (anything else becomes ``/``)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return "/"
    return target


def login_page(
    request: Request,
    state: State,
    next_url: str,
    error: str | None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        None,
        {
            "next": next_url,
            "error": error,
            "with_users": bool(state.settings.users),
            "with_token": state.settings.token is not None,
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("/login")
def login_form(request: Request, state: State, next: str = "/") -> Response:
    return login_page(request, state, safe_next(next), None)


@router.post("/login")
def login(
    request: Request,
    state: State,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    if not check_csrf(request.session, csrf):
        return login_page(
            request,
            state,
            target,
            "The login form expired or your browser refused its cookie: try again.",
            403,
        )
    throttle = state.throttle
    keys = throttle_keys(client_address(request), TOKEN_USER if token else username)
    wait = throttle.retry_after(keys)
    if wait is not None:
        return login_page(
            request, state, target, too_many(wait), 429, headers={"Retry-After": str(wait)}
        )
    user: str | None = None
    if token:
        user = TOKEN_USER if state.creds.check_token(token) else None
    elif username and password:
        user = username if state.creds.check_password(username, password) else None
    if user is None:
        throttle.failed(keys)
        return login_page(request, state, target, "Wrong user name and password, or token.", 401)
    throttle.succeeded(keys)
    state.creds.start_session(request.session, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, state: State, login: Writer) -> Response:
    state.creds.end_session(request.session)
    return RedirectResponse("/login", status_code=303)
