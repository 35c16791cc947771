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

This module assembles the app: the routes are in :mod:`proctor.review.routes` (one router per
concern), what they share in :mod:`proctor.review.state` (an :class:`ReviewState` on
``app.state.review``, the login and CSRF dependencies, rendering and the error pages), the
middleware in :mod:`proctor.review.middleware` and the templates' filters and view models in
:mod:`proctor.review.views`.
"""

import secrets
import time
from collections.abc import Callable
from importlib import resources

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from proctor.live.db import LiveStore
from proctor.review.auth import Credentials, LoginThrottle, Sessions
from proctor.review.inputs import check_routes
from proctor.review.middleware import SchemeSessions, TrustedProxy, security_headers
from proctor.review.routes import ROUTERS
from proctor.review.settings import ReviewSettings
from proctor.review.state import ReviewState, install_error_handlers
from proctor.review.views import environment

__all__ = ["ReviewSettings", "create_app", "serve"]


def create_app(settings: ReviewSettings, *, clock: Callable[[], float] | None = None) -> FastAPI:
    """The review app over `settings.database` (opened now: a bad database fails here).
    `clock` (seconds, monotonic; ``time.monotonic`` by default) times session expiry and
    the login rate limit; tests pass their own."""
    store = LiveStore(settings.database)
    secret = settings.secret_key or secrets.token_urlsafe(32)
    now = clock or time.monotonic
    sessions = Sessions(settings.session_hours * 3600, now)
    state = ReviewState(
        settings=settings,
        store=store,
        sessions=sessions,
        creds=Credentials(settings.token, settings.users, secret, sessions),
        throttle=LoginThrottle(settings.login_max_failures, settings.login_window_seconds, now),
        templates=Jinja2Templates(env=environment()),
        css=(resources.files("proctor.review") / "static" / "style.css").read_text("utf-8"),
        runs=list(settings.bench_runs),
    )

    app = FastAPI(
        title="proctor review", docs_url=None, redoc_url=None, openapi_url=None, debug=False
    )
    app.state.review = state
    app.state.settings = settings
    app.state.store = store
    app.state.sessions = sessions
    app.state.throttle = state.throttle

    app.middleware("http")(security_headers)
    # Added last, so it runs first: every handler and error page sees request.session.
    app.add_middleware(
        SchemeSessions,
        secret_key=secret,
        max_age=max(1, int(settings.session_hours * 3600)),
        always_secure=settings.always_secure_cookie,
    )
    if settings.trust_proxy:  # outermost: the session middleware sees the proxied scheme
        app.add_middleware(TrustedProxy)

    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

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
