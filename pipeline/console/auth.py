"""Who may use the console, and the CSRF token of every state-changing form.

* ``CONSOLE_TOKEN`` set: a visitor signs in with it once (``POST /login``) and gets a signed,
  HttpOnly, SameSite=Strict session cookie for ``session_ttl_s``. The signing key derives from
  the token, so every console process accepts the same cookies and changing the token signs
  everyone out.
* no token: allowed only on a loopback address (``require_credentials``); every visitor gets
  an anonymous session (signed with a key drawn when the app is built), so CSRF still holds.

The CSRF token is an HMAC of the session id: a form posted without the token of the session
that sent it is refused (403), as is a POST whose ``Origin`` is another site.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.errors import ConfigError

__all__ = ["ConsoleAuth", "Session", "is_loopback", "require_credentials"]

COOKIE = "lp_console"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_credentials(host: str, token: str | None) -> None:
    """Refuse to serve the console off loopback without credentials (ConfigError names the fix)."""
    if not token and not is_loopback(host):
        raise ConfigError(
            f"the console binds {host}, which is not loopback: set CONSOLE_TOKEN "
            "(or bind 127.0.0.1 and reach it through a tunnel)",
            key="CONSOLE_TOKEN",
        )
    if token and len(token) < 16:
        raise ConfigError("must be at least 16 characters", key="CONSOLE_TOKEN")


@dataclass(frozen=True)
class Session:
    id: str
    expires_s: int


class ConsoleAuth:
    def __init__(
        self, token: str | None, *, session_ttl_s: int = 12 * 3600, now_s: Callable[[], float] = time.time
    ) -> None:
        self._token = token or None
        self._key = hashlib.sha256(b"lp-console-session\x00" + token.encode()).digest() if token else os.urandom(32)
        self._ttl_s = session_ttl_s
        self._now_s = now_s

    @property
    def required(self) -> bool:
        """Whether visitors must sign in (a token is configured)."""
        return self._token is not None

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def check_token(self, presented: str) -> bool:
        return self._token is not None and hmac.compare_digest(presented.encode(), self._token.encode())

    def new_session(self) -> tuple[Session, str]:
        """A fresh session and its cookie value."""
        session = Session(secrets.token_hex(16), int(self._now_s()) + self._ttl_s)
        payload = f"{session.id}.{session.expires_s}"
        return session, f"{payload}.{self._sign(payload)}"

    def session(self, cookie_value: str | None) -> Session | None:
        """The session a cookie carries, if its signature holds and it has not expired."""
        if not cookie_value or cookie_value.count(".") != 2:
            return None
        sid, expires, signature = cookie_value.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{sid}.{expires}")) or not expires.isdigit():
            return None
        return Session(sid, int(expires)) if int(expires) > self._now_s() else None

    def csrf(self, session: Session) -> str:
        return self._sign(f"csrf:{session.id}")

    def check_csrf(self, session: Session | None, presented: str | None) -> bool:
        return session is not None and bool(presented) and hmac.compare_digest(presented or "", self.csrf(session))

    def cookie(self, value: str, *, secure: bool, clear: bool = False) -> str:
        attrs = [
            f"{COOKIE}={'' if clear else value}",
            "Path=/",
            "HttpOnly",
            "SameSite=Strict",
            f"Max-Age={0 if clear else self._ttl_s}",
        ]
        if secure:
            attrs.append("Secure")
        return "; ".join(attrs)
