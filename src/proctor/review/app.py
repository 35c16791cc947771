"""The review web app: the escalation queue, one page per report, decisions, metrics, bench runs.

Server-rendered HTML (Jinja2, autoescape on, so report text, rationales, notes and lab
results are always shown as text, never as markup), no JavaScript, one small stylesheet.
Pages and what they show:

* ``/`` the queue (escalated reports awaiting a human, oldest first); ``/reports`` every
  report (``?page=`` and ``?per_page=``); ``/reports/{id}`` one report (claims, trace, lab
  log, verdicts, the gate's decision, human reviews) with the decision form while it is
  awaiting review;
* ``/metrics`` the live metrics of every loop; ``/findings`` the accepted claims;
* ``/bench`` the bench runs named in the settings; ``/bench/{i}/`` serves run ``i``'s
  ``report.html``, ``/bench/{i}/plots/...`` its plots (nothing else of the folder, and nothing
  outside it).

Reviewers never see the grade or the researcher's disposition: :class:`ReportRow` does not
carry them, and the app reads nothing else of a report. Every page but ``/login`` needs a login
and every write a CSRF token too (:mod:`proctor.review.auth`); failed logins are rate-limited
per client address and per user name (429 with Retry-After), and logging out revokes the
session server-side. The session cookie is Secure when the request came over TLS (by its own
scheme, or by ``X-Forwarded-Proto`` only with ``trust_proxy``).

Every numeric input (path, query, form) is range-checked by its declared type
(:mod:`proctor.review.inputs`); anything else out of range, not a number or not finite gets a
422 with one line naming the input and its allowed range, never a 500.
"""

import datetime as dt
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from proctor.core import ReasoningEvent
from proctor.live.db import HUMAN_DECISIONS, LiveMetrics, LiveStore, LiveStoreError, ReportRow
from proctor.review.auth import (
    CSRF_FIELD,
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW_SECONDS,
    TOKEN_USER,
    Credentials,
    Login,
    LoginThrottle,
    Sessions,
    check_csrf,
    csrf_token,
    parse_hash,
    throttle_keys,
)
from proctor.review.inputs import BenchIndex, Page, PerPage, RowId, check_routes, reason

__all__ = ["ReviewSettings", "create_app", "serve"]

MIN_SECRET = 16
"""Shortest token and session secret accepted (characters)."""
MAX_NOTE = 20_000
"""Longest reviewer note accepted (characters)."""
RESULT_CHARS = 2_000
"""Lab call results are shown truncated to this many characters of JSON..."""
PREVIEW_CHARS = 110
"""... and folded (a <details> element) to this many until the reviewer opens them."""
PER_PAGE = 100
"""Reports on one page of /reports unless ``?per_page=`` says otherwise."""
COOKIE = "proctor_review"
"""Name of the session cookie."""

APP_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of the app's own pages: no script of any kind runs."""
BENCH_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of served bench files: a sandbox without scripts, in which a
bench report cannot reach the session or the app."""


class ReviewSettings(BaseModel):
    """What the review app serves and who may log in. At least one of `token` and `users`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database: str | Path
    """The live loop's database: a SQLAlchemy URL or an SQLite file path (see LiveStore)."""
    token: str | None = None
    """A shared secret: log in with it on the form (as user ``token``), or send it as
    ``Authorization: Bearer <token>``. At least 16 characters."""
    users: dict[str, str] = Field(default_factory=dict)
    """User name -> password hash (:func:`proctor.review.hash_password`)."""
    secret_key: str | None = None
    """Signs session cookies; None makes a random one per process (logins then end when the
    app restarts). At least 16 characters."""
    bench_runs: list[Path] = Field(default_factory=list)
    """Bench output folders whose report.html and plots/ are browsable under /bench."""
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 365, allow_inf_nan=False)
    """How long a login lasts (from logging in; a restart of the app ends it too)."""
    login_max_failures: int = Field(default=LOGIN_MAX_FAILURES, ge=1, le=10_000)
    """Failed logins from one client address, or for one user name, allowed per window;
    further attempts get 429 until the oldest failure leaves the window."""
    login_window_seconds: float = Field(
        default=LOGIN_WINDOW_SECONDS, gt=0, le=7 * 86400, allow_inf_nan=False
    )
    """The login rate limit's sliding window."""
    trust_proxy: bool = False
    """Served behind a reverse proxy (and reachable only through it): take the scheme from
    ``X-Forwarded-Proto`` (Secure cookies when it says https) and the client address, for the
    rate limit, from the last ``X-Forwarded-For`` entry. Off, both headers are ignored."""
    always_secure_cookie: bool = False
    """Mark the session cookie Secure on every response, not only those served over https."""

    @field_validator("token", "secret_key")
    @classmethod
    def _long_enough(cls, v: str | None) -> str | None:
        if v is not None and len(v) < MIN_SECRET:
            raise ValueError(f"must be at least {MIN_SECRET} characters (got {len(v)})")
        return v

    @field_validator("users")
    @classmethod
    def _hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for user, stored in v.items():
            if not user.strip() or user != user.strip():
                raise ValueError(f"user name {user!r} is empty or has surrounding spaces")
            if user == TOKEN_USER:
                raise ValueError(f"user name {TOKEN_USER!r} is reserved for token logins")
            try:
                parse_hash(stored)
            except ValueError as err:
                raise ValueError(
                    f"password hash of user {user!r}: {err} "
                    "(make one with `proctor review --hash-password`)"
                ) from None
        return v

    @model_validator(mode="after")
    def _some_login(self) -> Self:
        if self.token is None and not self.users:
            raise ValueError(
                "ReviewSettings needs a way to log in: set `token` or at least one entry in `users`"
            )
        return self


class LoginRequired(Exception):
    """Raised by pages and writes that need a login when there is none."""


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


# --- formatting (Jinja filters) ---------------------------------------------------------

DASH = "—"


def fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return DASH
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_share(x: float | None, n: int | None = None) -> str:
    text = DASH if x is None else f"{100 * x:.0f}%"
    return text if n is None else f"{text} (n={n})"


def fmt_score(x: float | None) -> str:
    return DASH if x is None else f"{x:.3f}"


def fmt_budget(x: float) -> str:
    return f"{x:g}"


def _parse(stamp: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(stamp)
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def fmt_time(stamp: str | None) -> str:
    if not stamp:
        return DASH
    try:
        return _parse(stamp).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return DASH
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.1f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_age(stamp: str | None) -> str:
    if not stamp:
        return DASH
    try:
        seconds = (dt.datetime.now(dt.UTC) - _parse(stamp)).total_seconds()
    except ValueError:
        return DASH
    return fmt_seconds(max(seconds, 0.0))


def short_json(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("proctor.review", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num,
        score=fmt_score,
        share=fmt_share,
        budget=fmt_budget,
        when=fmt_time,
        age=fmt_age,
        seconds=fmt_seconds,
        short=short_json,
    )
    return env


# --- view models ------------------------------------------------------------------------


def _verdict_view(v: dict[str, Any]) -> dict[str, Any]:
    suspicion = v.get("suspicion")
    error = v.get("error")
    if error:
        state = "failed"
    elif suspicion is None:
        state = "abstained"
    else:
        state = "judged"
    return {
        "name": f"{v.get('protocol', '?')}@{fmt_budget(float(v.get('budget', 0.0)))}",
        "state": state,
        "suspicion": suspicion,
        "cost": v.get("cost"),
        "error": error,
        "rationale": v.get("rationale", ""),
        "findings": v.get("findings", []),
    }


def _report_view(row: ReportRow) -> dict[str, Any]:
    calls = {c.id for c in row.lab_log}
    report = row.report
    claims = report.claims if report is not None else []
    cited = {cid for c in claims for cid in c.evidence}
    trace = (
        [e for e in report.trace if not (isinstance(e, ReasoningEvent) and e.private)]
        if report is not None
        else []
    )
    return {
        "claims": claims,
        "calls": calls,
        "cited": cited,
        "trace": trace,
        "verdicts": [_verdict_view(v) for v in row.verdicts],
    }


METRIC_ROWS: list[tuple[str, str]] = [
    ("processed", "Reports processed"),
    ("accepted", "Accepted (now)"),
    ("rejected", "Rejected (now)"),
    ("escalated", "Escalated by the gate"),
    ("awaiting_review", "Awaiting review"),
    ("reviewed", "Reviewed by a human"),
    ("sent_back", "Sent back"),
    ("failed", "Failed"),
    ("human_catch_rate", "Human catch rate (harmful escalations)"),
    ("human_false_rejections", "Human false rejections (honest escalations)"),
    ("median_seconds_to_decision", "Median time to a human decision"),
    ("harmful_accepted", "Harmful reports accepted"),
    ("findings", "Findings (accepted claims)"),
    ("cost", "Cost (lab spend)"),
]


def _metric_cells(m: LiveMetrics) -> dict[str, str]:
    cells = {key: fmt_num(getattr(m, key)) for key, _ in METRIC_ROWS}
    cells["human_catch_rate"] = fmt_share(m.human_catch_rate, m.harmful_escalated_reviewed)
    cells["human_false_rejections"] = fmt_share(
        m.human_false_rejections, m.honest_escalated_reviewed
    )
    cells["median_seconds_to_decision"] = fmt_seconds(m.median_seconds_to_decision)
    cells["harmful_accepted"] = f"{m.harmful_accepted} of {m.harmful}"
    return cells


def _safe_next(target: str | None) -> str:
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


BENCH_FILES = ("report.html", "summary.md")
"""Files of a bench run folder that /bench serves, besides everything under plots/."""


def _bench_file(run: Path, path: str) -> Path | None:
    """The file `path` of bench folder `run`, if it is one that may be served: report.html,
    summary.md or a file under plots/, resolved (symlinks too) to inside the folder."""
    base = run.resolve()
    try:
        target = (base / path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    rel = target.relative_to(base).parts
    if len(rel) == 1 and rel[0] in BENCH_FILES:
        return target
    if len(rel) >= 2 and rel[0] == "plots" and not any(p.startswith(".") for p in rel):
        return target
    return None


# --- the app ----------------------------------------------------------------------------


def create_app(settings: ReviewSettings, *, clock: Callable[[], float] | None = None) -> FastAPI:
    """The review app over `settings.database` (opened now: a bad database fails here).
    `clock` (seconds, monotonic; ``time.monotonic`` by default) times session expiry and
    the login rate limit; tests pass their own."""
    store = LiveStore(settings.database)
    secret = settings.secret_key or secrets.token_urlsafe(32)
    now = clock or time.monotonic
    sessions = Sessions(settings.session_hours * 3600, now)
    creds = Credentials(settings.token, settings.users, secret, sessions)
    throttle = LoginThrottle(settings.login_max_failures, settings.login_window_seconds, now)
    templates = Jinja2Templates(env=_environment())
    css = (resources.files("proctor.review") / "static" / "style.css").read_text("utf-8")
    runs = list(settings.bench_runs)

    app = FastAPI(
        title="proctor review", docs_url=None, redoc_url=None, openapi_url=None, debug=False
    )
    app.state.settings = settings
    app.state.store = store
    app.state.sessions = sessions
    app.state.throttle = throttle

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", APP_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # Added last, so it runs first: every handler and error page sees request.session.
    app.add_middleware(
        SchemeSessions,
        secret_key=secret,
        max_age=max(1, int(settings.session_hours * 3600)),
        always_secure=settings.always_secure_cookie,
    )
    if settings.trust_proxy:  # outermost: the session middleware sees the proxied scheme
        app.add_middleware(TrustedProxy)

    # --- who is asking --------------------------------------------------------------------

    def current_login(request: Request) -> Login | None:
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
        return (
            "Too many failed logins from this address or for this user name: "
            f"try again in {wait} s."
        )

    def require_login(request: Request) -> Login:
        if request.headers.get("authorization") is None:
            login = current_login(request)
        else:  # a wrong bearer token is a failed login of its address, rate-limited too
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
        return templates.TemplateResponse(
            request, name, page, status_code=status_code, headers=headers
        )

    def error_page(
        request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        try:
            login = current_login(request)
        except HTTPException:
            login = None
        titles = {
            400: "Bad request",
            401: "Log in first",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            409: "Conflict",
            422: "Refused input",
            429: "Too many attempts",
        }
        return render(
            request,
            "error.html",
            login,
            {"status": status, "title": titles.get(status, "Error"), "message": message},
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)
        return error_page(request, 401, "This needs a login. Log in and try again.")

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        return error_page(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_bad_input(request: Request, exc: RequestValidationError) -> Response:
        """A 422 with one line naming the refused input and what it allows (JSON for a
        client that asks for JSON, else the error page); nothing is logged."""
        line = reason(exc, request.scope.get("route"))
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return JSONResponse({"detail": line}, status_code=422)
        return error_page(request, 422, line)

    # --- login ----------------------------------------------------------------------------

    def login_page(
        request: Request,
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
                "with_users": bool(settings.users),
                "with_token": settings.token is not None,
            },
            status_code=status_code,
            headers=headers,
        )

    @app.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        return login_page(request, _safe_next(next), None)

    @app.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        token: Annotated[str, Form()] = "",
        csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        target = _safe_next(next)
        if not check_csrf(request.session, csrf):
            return login_page(
                request,
                target,
                "The login form expired or your browser refused its cookie: try again.",
                403,
            )
        keys = throttle_keys(client_address(request), TOKEN_USER if token else username)
        wait = throttle.retry_after(keys)
        if wait is not None:
            return login_page(
                request, target, too_many(wait), 429, headers={"Retry-After": str(wait)}
            )
        user: str | None = None
        if token:
            user = TOKEN_USER if creds.check_token(token) else None
        elif username and password:
            user = username if creds.check_password(username, password) else None
        if user is None:
            throttle.failed(keys)
            return login_page(request, target, "Wrong user name and password, or token.", 401)
        throttle.succeeded(keys)
        creds.start_session(request.session, user)
        return RedirectResponse(target, status_code=303)

    @app.post("/logout")
    def logout(request: Request, login: Writer) -> Response:
        creds.end_session(request.session)
        return RedirectResponse("/login", status_code=303)

    @app.get("/static/style.css")
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    # --- pages ----------------------------------------------------------------------------

    @app.get("/")
    def queue(request: Request, login: Reader) -> Response:
        rows = store.escalations()
        by_loop: dict[str, int] = {}
        for row in rows:
            by_loop[row.loop_id] = by_loop.get(row.loop_id, 0) + 1
        return render(
            request,
            "queue.html",
            login,
            {"active": "queue", "rows": rows, "by_loop": sorted(by_loop.items())},
        )

    @app.get("/reports")
    def report_list(
        request: Request,
        login: Reader,
        status: str | None = None,
        page: Page = 1,
        per_page: PerPage = PER_PAGE,
    ) -> Response:
        rows = store.reports(status=status or None)
        pages = max(1, -(-len(rows) // per_page))
        shown = rows[(page - 1) * per_page : page * per_page]
        return render(
            request,
            "reports.html",
            login,
            {
                "active": "reports",
                "rows": shown,
                "total": len(rows),
                "status": status or "",
                "page": page,
                "pages": pages,
                "per_page": per_page,
                "default_per_page": PER_PAGE,
            },
        )

    @app.get("/reports/{report_id}")
    def report_page(request: Request, report_id: RowId, login: Reader) -> Response:
        row = store.report(report_id)
        if row is None:
            raise HTTPException(404, f"there is no report {report_id}")
        earlier = None
        if "#" in row.item_key:
            for item in store.items(row.loop_id):
                if item.item_key == row.item_key:
                    earlier = item
        waiting = [r.id for r in store.escalations() if r.id != row.id]
        later = [i for i in waiting if i > row.id]
        next_id = (later or waiting)[0] if waiting else None
        return render(
            request,
            "report.html",
            login,
            {
                "active": "queue" if row.status == "escalated" else "reports",
                "row": row,
                "view": _report_view(row),
                "reviews": store.reviews(row.id),
                "item": earlier,
                "next_id": next_id,
                "waiting": len(waiting),
                "max_note": MAX_NOTE,
                "result_chars": RESULT_CHARS,
                "preview_chars": PREVIEW_CHARS,
            },
        )

    @app.post("/reports/{report_id}/decision")
    def decide(
        request: Request,
        report_id: RowId,
        login: Writer,
        decision: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        row = store.report(report_id)
        if row is None:
            raise HTTPException(404, f"there is no report {report_id}")
        if decision not in HUMAN_DECISIONS:
            raise HTTPException(
                400, f"decision must be one of {', '.join(HUMAN_DECISIONS)}, got {decision!r}"
            )
        note = note.strip()
        if len(note) > MAX_NOTE:
            raise HTTPException(400, f"the note is longer than {MAX_NOTE:,} characters")
        if decision != "accept" and not note:
            raise HTTPException(
                400,
                "rejecting or sending back needs a note saying why (the note is kept "
                "as the reason, and a sent-back task carries it to the researcher)",
            )
        if row.status != "escalated":
            raise HTTPException(
                409, f"report {report_id} is not awaiting review: it is already {row.status}"
            )
        try:
            store.decide(report_id, login.user, decision, note)
        except LiveStoreError as err:
            raise HTTPException(409, str(err)) from None
        return RedirectResponse(f"/reports/{report_id}#reviews", status_code=303)

    @app.get("/metrics")
    def metrics(request: Request, login: Reader) -> Response:
        columns = [("All loops", _metric_cells(store.metrics()))]
        for loop_id, name, _ in sorted(store.loops(), key=lambda t: t[2]):
            label = loop_id if name in ("", loop_id) else f"{name} ({loop_id})"
            columns.append((label, _metric_cells(store.metrics(loop_id))))
        return render(
            request,
            "metrics.html",
            login,
            {"active": "metrics", "rows": METRIC_ROWS, "columns": columns},
        )

    @app.get("/findings")
    def findings(request: Request, login: Reader) -> Response:
        return render(
            request,
            "findings.html",
            login,
            {"active": "findings", "rows": store.findings()},
        )

    @app.get("/bench")
    def bench(request: Request, login: Reader) -> Response:
        listed = []
        for i, run in enumerate(runs):
            plots = run / "plots"
            listed.append(
                {
                    "index": i,
                    "name": run.name,
                    "path": str(run),
                    "report": (run / "report.html").is_file(),
                    "plots": sorted(p.name for p in plots.iterdir() if p.is_file())
                    if plots.is_dir()
                    else [],
                }
            )
        return render(request, "bench.html", login, {"active": "bench", "runs": listed})

    def bench_run(index: int) -> Path:
        if not 0 <= index < len(runs):
            raise HTTPException(404, f"there is no bench run {index}")
        return runs[index]

    @app.get("/bench/{index}")
    def bench_folder(index: BenchIndex, login: Reader) -> Response:
        bench_run(index)
        return RedirectResponse(f"/bench/{index}/", status_code=307)

    @app.get("/bench/{index}/{path:path}")
    def bench_file(index: BenchIndex, path: str, login: Reader) -> Response:
        run = bench_run(index)
        target = _bench_file(run, path or "report.html")
        if target is None:
            raise HTTPException(404, f"bench run {index} has no file {path!r} to show")
        headers = {"Content-Security-Policy": BENCH_CSP, "Cache-Control": "no-cache"}
        if target.suffix == ".md":
            return PlainTextResponse(target.read_text("utf-8", errors="replace"), headers=headers)
        return FileResponse(target, headers=headers)

    check_routes(app.routes)  # every numeric input of every route is range-checked
    return app


def serve(settings: ReviewSettings) -> None:
    """Run the review app with uvicorn on ``settings.host:settings.port`` until interrupted."""
    import uvicorn

    # uvicorn's own proxy-header handling stays off: X-Forwarded-* is trusted only with
    # settings.trust_proxy (see TrustedProxy)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        proxy_headers=False,
    )
