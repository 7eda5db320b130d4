"""The console's WSGI plumbing: requests, responses, sign-in, CSRF, templates and routing.
The pages themselves are in ``pages.py``; what they show comes from ``data.py``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import redis
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.console.auth import COOKIE, ConsoleAuth, Session
from pipeline.console.data import ConsoleDeps

__all__ = ["Console", "Request", "Response"]

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
MAX_FORM_BYTES = 1 << 20
_STATIC = {"live.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    cookies: dict[str, str]
    headers: dict[str, str]
    secure: bool
    session: Session | None = None
    csrf: str = ""

    def arg(self, name: str, default: str = "") -> str:
        values = self.form.get(name) or self.query.get(name) or [default]
        return values[0].strip()

    def args(self, name: str) -> list[str]:
        return [v for v in (self.form.get(name) or self.query.get(name) or []) if v]


@dataclass
class Response:
    status: str = "200 OK"
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def redirect(cls, to: str, **query: Any) -> Response:
        url = to + ("?" + urlencode(query, doseq=True) if query else "")
        return cls("303 See Other", headers=[("Location", url)])


def _request(environ: dict[str, Any]) -> Request:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    form: dict[str, list[str]] = {}
    if method == "POST":
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_FORM_BYTES)
        except ValueError:
            length = 0
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace")) if length else {}
    cookie = SimpleCookie()
    with suppress(Exception):  # a malformed cookie header is no cookie
        cookie.load(environ.get("HTTP_COOKIE", ""))
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    return Request(
        method=method,
        path=environ.get("PATH_INFO", "/") or "/",
        query=parse_qs(environ.get("QUERY_STRING", "")),
        form=form,
        cookies={k: m.value for k, m in cookie.items()},
        headers=headers,
        secure=environ.get("wsgi.url_scheme") == "https" or headers.get("x-forwarded-proto") == "https",
    )


Handler = Callable[["Console", Request, re.Match[str]], Response]


class Console:
    """The application: ``console(environ, start_response)``."""

    def __init__(self, deps: ConsoleDeps, auth: ConsoleAuth, routes: Sequence[tuple[str, str, Handler]]) -> None:
        self.deps = deps
        self.auth = auth
        self._routes = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in routes]
        self._env = Environment(
            loader=PackageLoader("pipeline.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, request: Request, template: str, **context: Any) -> Response:
        body = self._env.get_template(template).render(
            csrf=request.csrf, auth_required=self.auth.required, path=request.path, deps=self.deps, **context
        )
        return Response(body=body.encode())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _request(environ)
        try:
            response = self._dispatch(request)
        except redis.RedisError as exc:
            log.warning("console: Redis did not answer: %s", type(exc).__name__)
            response = Response(
                "503 Service Unavailable",
                f"Redis did not answer ({type(exc).__name__}); try again in a moment".encode(),
                "text/plain; charset=utf-8",
            )
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *_HEADERS,
            *response.headers,
        ]
        start_response(response.status, headers)
        return [response.body]

    def _dispatch(self, request: Request) -> Response:
        if request.path == "/healthz":
            return Response(body=b"ok", content_type="text/plain")
        if request.path == "/favicon.ico":
            return Response("204 No Content")
        if request.path.startswith("/static/"):
            return self._static(request.path[len("/static/") :])
        new_cookie = None
        request.session = self.auth.session(request.cookies.get(COOKIE))
        if request.session is None and not self.auth.required:
            request.session, new_cookie = self.auth.new_session()  # loopback without a token: anonymous
        if request.session is not None:
            request.csrf = self.auth.csrf(request.session)
        if request.method == "POST" and not self._same_origin(request):
            return Response("403 Forbidden", b"cross-site request refused", "text/plain")
        if request.path in ("/login", "/logout"):
            response = self._login(request)
        elif request.session is None:
            return Response.redirect("/login")
        elif request.method == "POST" and not self.auth.check_csrf(request.session, request.arg("csrf")):
            return Response(
                "403 Forbidden", b"missing or wrong CSRF token: reload the page and try again", "text/plain"
            )
        else:
            response = self._route(request)
        if new_cookie:
            response.headers.append(("Set-Cookie", self.auth.cookie(new_cookie, secure=request.secure)))
        return response

    def _route(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            if (match := pattern.match(request.path)) is not None:
                if method == request.method:
                    return handler(self, request, match)
                allowed = True
        if allowed:
            return Response("405 Method Not Allowed", b"method not allowed", "text/plain")
        return Response("404 Not Found", b"no such page", "text/plain")

    @staticmethod
    def _same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin or origin == "null":
            return origin != "null"
        return origin.split("://", 1)[-1] == request.headers.get("host", "")

    def _login(self, request: Request) -> Response:
        if request.path == "/logout":
            if request.method != "POST" or not self.auth.check_csrf(request.session, request.arg("csrf")):
                return Response("403 Forbidden", b"sign out with the button", "text/plain")
            response = Response.redirect("/login")
            response.headers.append(("Set-Cookie", self.auth.cookie("", secure=request.secure, clear=True)))
            return response
        if not self.auth.required:
            return Response.redirect("/")
        if request.method == "POST":
            if self.auth.check_token(request.arg("token")):
                _, cookie = self.auth.new_session()
                response = Response.redirect("/")
                response.headers.append(("Set-Cookie", self.auth.cookie(cookie, secure=request.secure)))
                return response
            log.warning("console: a sign-in with a wrong token was refused")
            page = self.render(request, "login.html", error="That token is not right.")
            page.status = "401 Unauthorized"
            return page
        return self.render(request, "login.html", error=None)

    @staticmethod
    def _static(name: str) -> Response:
        if name not in _STATIC:
            return Response("404 Not Found", b"no such file", "text/plain")
        body = resources.files("pipeline.console").joinpath("static", name).read_bytes()
        return Response(body=body, content_type=_STATIC[name])
