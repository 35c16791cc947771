"""The review app's settings: what it serves and who may log in."""

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from proctor.review.auth import LOGIN_MAX_FAILURES, LOGIN_WINDOW_SECONDS, TOKEN_USER, parse_hash

__all__ = ["MIN_SECRET", "ReviewSettings"]

MIN_SECRET = 16
"""Shortest token and session secret accepted (characters)."""


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
