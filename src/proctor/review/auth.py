"""Logins, sessions and CSRF tokens for the review app.

* **Passwords** are stored as ``scrypt$n$r$p$salt_hex$hash_hex`` (:func:`hash_password`) and
  checked in constant time (:func:`verify_password`).
* **Sessions** are Starlette's signed cookie (itsdangerous; HttpOnly, SameSite=Lax). A
  logged-in session holds the user name, a fingerprint of the credential it logged in with
  (so changing a password or the token ends old sessions) and a random CSRF token.
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
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "CSRF_FIELD",
    "TOKEN_USER",
    "Login",
    "check_csrf",
    "csrf_token",
    "hash_password",
    "verify_password",
]

TOKEN_USER = "token"
"""The user name of whoever logs in with the token."""
CSRF_FIELD = "csrf_token"
"""Name of the hidden form field (and session key) holding the CSRF token."""

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


class Credentials:
    """The token and user passwords a review app accepts."""

    def __init__(self, token: str | None, users: dict[str, str], secret: str) -> None:
        self._token = token
        self._users = dict(users)
        self._secret = secret.encode("utf-8")

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
        """The login a session cookie holds, if its credential is still the current one."""
        user, mark = session.get("user"), session.get("login")
        if not isinstance(user, str) or not isinstance(mark, str):
            return None
        current = self.fingerprint(user)
        if current is None or not hmac.compare_digest(mark, current):
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
        """Log `user` in: a fresh session (new CSRF token) holding the user's credential mark."""
        session.clear()
        session["user"] = user
        session["login"] = self.fingerprint(user)
        session[CSRF_FIELD] = secrets.token_urlsafe(32)


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
