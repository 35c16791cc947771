"""Logins, sessions and CSRF tokens for the review app.

* **Passwords** are stored as ``scrypt$n$r$p$salt_hex$hash_hex`` (:func:`hash_password`) and
  checked in constant time (:func:`verify_password`).
* **Sessions** are Starlette's signed cookie (itsdangerous; HttpOnly, SameSite=Lax, and Secure
  when served over TLS). A logged-in session holds the user name, a fingerprint of the
  credential it logged in with (so changing a password or the token ends old sessions), a
  random CSRF token and a random session id that must also be live in the server-side
  :class:`Sessions` table: logging out removes it, so a replayed cookie of a logged-out (or
  expired) session is refused. The table is in memory, so a restart ends every login.
* **Rate limit**: :class:`LoginThrottle` counts failed logins per client address and per user
  name (a wrong ``Authorization: Bearer`` header counts against its address) in a sliding
  window; at the limit, further attempts are refused (429, Retry-After)
  before any password is checked, until the oldest counted failure leaves the window. A
  successful login clears the counts of its address and its user name.
* **CSRF**: every form carries the session's token in a hidden ``csrf_token`` field and every
  POST compares it with :func:`hmac.compare_digest`; the login form has one too, kept in a
  pre-login session (login CSRF).
* **Bearer token**: ``Authorization: Bearer <token>`` logs a request in as user ``token``
  without a cookie. Browsers never attach that header by themselves, so a cross-site page
  cannot forge it, and such requests need no CSRF token. Only the token works this way, never
  a user's password.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "CSRF_FIELD",
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW_SECONDS",
    "MAX_SESSIONS",
    "SESSION_FIELD",
    "TOKEN_USER",
    "Login",
    "LoginThrottle",
    "Sessions",
    "check_csrf",
    "csrf_token",
    "hash_password",
    "throttle_keys",
    "verify_password",
]

TOKEN_USER = "token"
"""The user name of whoever logs in with the token."""
CSRF_FIELD = "csrf_token"
"""Name of the hidden form field (and session key) holding the CSRF token."""
SESSION_FIELD = "sid"
"""Session key holding the id of the login in the server-side :class:`Sessions` table."""
LOGIN_MAX_FAILURES = 5
"""Failed logins from one address, or for one user name, that a window allows."""
LOGIN_WINDOW_SECONDS = 15 * 60.0
"""The rate limit's sliding window."""
MAX_SESSIONS = 10_000
"""Most live logins kept server-side; past it the one closest to expiry is ended."""
MAX_THROTTLED = 10_000
"""Most addresses and user names whose failures are counted at once (the oldest go first)."""

Clock = Callable[[], float]
"""Seconds on a monotonic clock (``time.monotonic``; tests pass their own)."""

_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_MAX_N = 2**20


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=size,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,
    )


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """A salted scrypt hash of `password`: ``scrypt$n$r$p$salt_hex$hash_hex``."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p, 32)
    return f"{_SCHEME}${n}${r}${p}${salt.hex()}${digest.hex()}"


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a stored hash; ValueError if it is not one of ours."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("not a password hash of the form scrypt$n$r$p$salt_hex$hash_hex")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise ValueError("a password hash has a malformed number or hex field") from None
    if n < 2 or n & (n - 1) or n > _MAX_N or not 1 <= r <= 64 or not 1 <= p <= 16:
        raise ValueError(f"a password hash has unusable scrypt parameters n={n} r={r} p={p}")
    if len(salt) < 8 or not 16 <= len(digest) <= 64:
        raise ValueError("a password hash has a too short salt or a wrong hash length")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (a :func:`hash_password` result); constant-time
    comparison. A malformed `stored` never matches."""
    try:
        n, r, p, salt, digest = parse_hash(stored)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


@cache
def _dummy_hash() -> str:
    """Checked against for unknown user names, so that they take as long as known ones."""
    return hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class Login:
    """Who made a request, and how."""

    user: str
    bearer: bool
    """Logged in by an ``Authorization: Bearer`` header (no cookie, so no CSRF needed)."""


class Sessions:
    """The live logins, server-side: session id -> (user, expiry on `clock`). Thread-safe."""

    def __init__(
        self, lifetime: float, clock: Clock = time.monotonic, limit: int = MAX_SESSIONS
    ) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.limit = limit
        self._live: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def open(self, user: str) -> str:
        """A new session id for `user`, live for `lifetime` seconds from now."""
        sid = secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            if len(self._live) >= self.limit:
                for key in [k for k, (_, end) in self._live.items() if end <= now]:
                    del self._live[key]
            while len(self._live) >= self.limit:
                del self._live[min(self._live, key=lambda k: self._live[k][1])]
            self._live[sid] = (user, now + self.lifetime)
        return sid

    def user(self, sid: str) -> str | None:
        """The user of live session `sid`, or None if it was revoked, expired or never was."""
        with self._lock:
            entry = self._live.get(sid)
            if entry is None:
                return None
            if entry[1] <= self.clock():
                del self._live[sid]
                return None
            return entry[0]

    def revoke(self, sid: str) -> None:
        """End session `sid` (nothing if it is not live)."""
        with self._lock:
            self._live.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)


class LoginThrottle:
    """Failed logins counted per key (an address, a user name) in a sliding window of
    `window` seconds on `clock`; a key with `max_failures` counted is refused until the oldest
    of them leaves the window. Thread-safe; at most `max_keys` keys are tracked."""

    def __init__(
        self,
        max_failures: int = LOGIN_MAX_FAILURES,
        window: float = LOGIN_WINDOW_SECONDS,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_THROTTLED,
    ) -> None:
        if max_failures < 1 or not window > 0:
            raise ValueError("a login throttle needs max_failures >= 1 and window > 0")
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Whole seconds until any of `keys` may try again (at least 1), or None if all may."""
        with self._lock:
            now = self.clock()
            wait = 0.0
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.max_failures:
                    wait = max(wait, times[-self.max_failures] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        """Count a failed login against each of `keys`."""
        with self._lock:
            now = self.clock()
            for key in keys:
                times = self._recent(key, now)
                if times is None:
                    times = self._failures[key] = deque()
                times.append(now)
                self._failures.move_to_end(key)
                if len(times) > self.max_failures:
                    times.popleft()
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the failures of `keys` (a login succeeded)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def throttle_keys(address: str, user: str) -> list[str]:
    """The rate limit's keys of a login attempt: its client address and, if one was given,
    the user name (digested, so a long name costs no memory)."""
    keys = [f"addr:{address}"]
    if user:
        keys.append("user:" + hashlib.sha256(user.encode("utf-8", "replace")).hexdigest()[:32])
    return keys


class Credentials:
    """The token and user passwords a review app accepts, and the live sessions."""

    def __init__(
        self,
        token: str | None,
        users: dict[str, str],
        secret: str,
        sessions: Sessions | None = None,
    ) -> None:
        self._token = token
        self._users = dict(users)
        self._secret = secret.encode("utf-8")
        self.sessions = sessions if sessions is not None else Sessions(12 * 3600.0)

    def fingerprint(self, user: str) -> str | None:
        """A keyed digest of `user`'s current credential (None for an unknown user): stored
        in the session, so that a new password or token ends the sessions of the old one."""
        if user == TOKEN_USER and self._token is not None:
            credential = self._token
        elif user in self._users:
            credential = self._users[user]
        else:
            return None
        mac = hmac.new(self._secret, f"{user}\0{credential}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def check_password(self, user: str, password: str) -> bool:
        stored = self._users.get(user)
        if stored is None:
            verify_password(password, _dummy_hash())
            return False
        return verify_password(password, stored)

    def check_token(self, token: str) -> bool:
        if self._token is None or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8"), self._token.encode("utf-8"))

    def from_session(self, session: dict[str, Any]) -> Login | None:
        """The login a session cookie holds, if its credential is still the current one and
        its session id is live server-side (not logged out, not expired)."""
        user, mark, sid = session.get("user"), session.get("login"), session.get(SESSION_FIELD)
        if not isinstance(user, str) or not isinstance(mark, str) or not isinstance(sid, str):
            return None
        current = self.fingerprint(user)
        if current is None or not hmac.compare_digest(mark, current):
            return None
        live = self.sessions.user(sid)
        if live is None or not hmac.compare_digest(live.encode(), user.encode()):
            return None
        return Login(user=user, bearer=False)

    def from_header(self, header: str | None) -> Login | bool | None:
        """The login of an ``Authorization`` header: None if there is none, False if it is
        there but wrong (or not a Bearer token), else the token user's login."""
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not self.check_token(value.strip()):
            return False
        return Login(user=TOKEN_USER, bearer=True)

    def start_session(self, session: dict[str, Any], user: str) -> None:
        """Log `user` in: a fresh session (new CSRF token, new server-side session id, any
        earlier one revoked) holding the user's credential mark."""
        self.end_session(session)
        session["user"] = user
        session["login"] = self.fingerprint(user)
        session[SESSION_FIELD] = self.sessions.open(user)
        session[CSRF_FIELD] = secrets.token_urlsafe(32)

    def end_session(self, session: dict[str, Any]) -> None:
        """Log out: revoke the session id server-side (so a replayed cookie is refused) and
        empty the cookie."""
        sid = session.get(SESSION_FIELD)
        if isinstance(sid, str):
            self.sessions.revoke(sid)
        session.clear()


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use (also for pre-login sessions)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf(session: dict[str, Any], sent: str | None) -> bool:
    """Whether `sent` is the session's CSRF token (constant-time; False if either is missing)."""
    expected = session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))
