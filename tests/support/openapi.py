"""Validate outgoing HTTP requests against a published OpenAPI document.

Known defects of the published documents are patched here, each with the reason, and
nothing else is relaxed (see specs/README.md).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from openapi_schema_validator import OAS31Validator

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _postscript_errata(spec: dict[str, Any]) -> None:
    events = spec["paths"]["/api/v2/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # `occurred_at` says `format: date` but its description (and the API) use "%Y-%m-%d %H:%M:%S.%f";
    # the description wins and is checked by `_check_occurred_at`.
    events["properties"]["occurred_at"].pop("format", None)
    # The events `properties` schema lists one example key; real keys are free-form.
    events["properties"]["properties"] = {"type": "object", "additionalProperties": {
        "type": ["string", "boolean", "integer", "number"]}}
    patch = spec["paths"]["/api/v2/subscribers/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    # `properties` is declared `type: string, format: json`, yet described (and sent by every
    # client) as key/value pairs whose values are strings, integers, string arrays or ISO dates.
    patch["properties"]["properties"] = {"type": ["object", "null"], "maxProperties": 50, "additionalProperties": {
        "type": ["string", "boolean", "integer", "number", "array"], "items": {"type": "string"}}}


ERRATA: dict[str, Callable[[dict[str, Any]], None]] = {
    "postscript-partner-api-openapi.yml": _postscript_errata,
}


def _check_event(body: dict[str, Any]) -> None:
    """Rules the events operation states in prose rather than in its schema."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", body.get("type", "")):
        raise ValueError(f"type {body.get('type')!r} has characters other than letters, digits and underscore")
    if "occurred_at" in body:
        datetime.strptime(body["occurred_at"], "%Y-%m-%d %H:%M:%S.%f")


BODY_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("POST", "/api/v2/events"): _check_event,
}


@cache
def load_spec(name: str) -> dict[str, Any]:
    spec = yaml.safe_load((SPECS / name).read_text())
    spec = copy.deepcopy(spec)
    if name in ERRATA:
        ERRATA[name](spec)
    return spec


class SpecViolation(AssertionError):
    pass


class RequestValidator:
    """``validate(request)`` raises ``SpecViolation`` naming what is wrong."""

    def __init__(self, spec_name: str, *, server_prefix: str = "") -> None:
        self.spec = load_spec(spec_name)
        self.prefix = server_prefix
        self._routes = [
            (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), path)
            for path in self.spec["paths"]
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        for pattern, template in self._routes:
            if pattern.match(path):
                op = self.spec["paths"][template].get(method.lower())
                if op is None:
                    raise SpecViolation(f"{method} {template} is not in the spec")
                return template, op
        raise SpecViolation(f"no path of the spec matches {path}")

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not ref:
            return schema
        node: Any = self.spec
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def validate(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        template, op = self.operation(request.method, url.path)
        if "Authorization" not in request.headers:
            raise SpecViolation(f"{request.method} {template}: no Authorization header")
        params = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
        for name, values in parse_qs(url.query, keep_blank_values=True).items():
            if name not in params:
                raise SpecViolation(f"{request.method} {template}: query parameter {name!r} is not in the spec")
            schema = self._resolve(params[name].get("schema", {}))
            for value in values:
                self._check_query_value(template, name, value, schema)
        for name, param in params.items():
            if param.get("required") and name not in parse_qs(url.query):
                raise SpecViolation(f"{request.method} {template}: required query parameter {name!r} missing")
        body_spec = op.get("requestBody")
        content = request.content
        if body_spec is None:
            if content:
                raise SpecViolation(f"{request.method} {template}: a body is sent but the spec declares none")
            return
        if "application/json" not in request.headers.get("content-type", ""):
            raise SpecViolation(f"{request.method} {template}: content-type is not application/json")
        body = json.loads(content)
        schema = self._resolve(body_spec["content"]["application/json"]["schema"])
        errors = sorted(OAS31Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "<body>"
            raise SpecViolation(f"{request.method} {template}: {where}: {first.message}")
        check = BODY_CHECKS.get((request.method, template))
        if check is not None:
            try:
                check(body)
            except ValueError as exc:
                raise SpecViolation(f"{request.method} {template}: {exc}") from None

    @staticmethod
    def _check_query_value(template: str, name: str, value: str, schema: dict[str, Any]) -> None:
        kind = schema.get("type")
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise SpecViolation(f"{template}: {name}={value!r} is not an integer")
            number = int(value)
            if "minimum" in schema and number < schema["minimum"] or "maximum" in schema and number > schema["maximum"]:
                raise SpecViolation(f"{template}: {name}={value} is out of range")
        if "enum" in schema and value not in schema["enum"]:
            raise SpecViolation(f"{template}: {name}={value!r} is not one of {schema['enum']}")
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise SpecViolation(f"{template}: {name}={value!r} is not a date-time") from None
