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
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

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


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def _check_e164(where: str, phone: Any) -> None:
    if phone is not None and not _E164.fullmatch(phone):
        raise ValueError(f"{where} is not E.164")  # the number itself is personal data: not in the message


def _check_attentive_event(body: dict[str, Any]) -> None:
    """Attentive v1 ``CustomEventsRequest``: character rules stated in the field descriptions."""
    if re.search(r"[\"'(){}\[\]\\|,]", body.get("type", "")) or not body.get("type", "").strip():
        raise ValueError(f"type {body.get('type')!r} is empty or has one of \" ' ( ) {{ }} [ ] \\ | ,")
    for key in body.get("properties") or {}:
        if re.search(r"[\"{}\[\]\\|]", key):
            raise ValueError(f"properties key {key!r} has one of \" {{ }} [ ] \\ |")
    _check_e164("user/phone", body.get("user", {}).get("phone"))


def _check_attentive_attributes(body: dict[str, Any]) -> None:
    """Attentive v1 ``postCustomAttributes``: "does not support arrays"; names at most 200 characters."""
    for key, value in (body.get("properties") or {}).items():
        if len(key) > 200:
            raise ValueError(f"attribute name {key[:40]!r}... is longer than 200 characters")
        if isinstance(value, (list, dict)):
            raise ValueError(f"attribute {key!r} is an array or object")
    _check_e164("user/phone", body.get("user", {}).get("phone"))


def _check_klaviyo_profile(where: str, profile: dict[str, Any]) -> None:
    attributes = profile.get("attributes", {})
    if not profile.get("id") and not any(attributes.get(k) for k in ("email", "phone_number", "external_id")):
        raise ValueError(f"{where} has no identifier (id, email, phone_number or external_id)")
    _check_e164(f"{where}/attributes/phone_number", attributes.get("phone_number"))


def _check_klaviyo_event(body: dict[str, Any]) -> None:
    """Klaviyo ``create_event``: metric name < 128 characters, <= 400 properties, a profile identifier."""
    attributes = body["data"]["attributes"]
    name = attributes["metric"]["data"]["attributes"]["name"]
    if len(name) >= 128:
        raise ValueError(f"metric name has {len(name)} characters; it must be less than 128")
    if len(attributes["properties"]) > 400:
        raise ValueError("more than 400 event properties")
    _check_klaviyo_profile("profile/data", attributes["profile"]["data"])


def _check_klaviyo_profile_import(body: dict[str, Any]) -> None:
    _check_klaviyo_profile("data", body["data"])


def _check_klaviyo_bulk_import(body: dict[str, Any]) -> None:
    """Klaviyo ``bulk_import_profiles``: "Accepts up to 10,000 profiles per request"."""
    profiles = body["data"]["attributes"]["profiles"]["data"]
    if len(profiles) > 10_000:
        raise ValueError(f"{len(profiles)} profiles; at most 10,000 per job")
    for i, profile in enumerate(profiles):
        _check_klaviyo_profile(f"profiles/data/{i}", profile)


def _check_klaviyo_bulk_events(body: dict[str, Any]) -> None:
    """Klaviyo ``bulk_create_events``: "up to 1,000 events per request"; each event as ``create_event``
    requires; a unique_id repeated for the same profile and metric fails the whole request."""
    entries = body["data"]["attributes"]["events-bulk-create"]["data"]
    if (count := sum(len(e["attributes"]["events"]["data"]) for e in entries)) > 1_000:
        raise ValueError(f"{count} events; at most 1,000 per request")
    seen: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        profile = entry["attributes"]["profile"]["data"]
        _check_klaviyo_profile(f"events-bulk-create/data/{i}/profile/data", profile)
        for event in entry["attributes"]["events"]["data"]:
            attributes = event["attributes"]
            name = attributes["metric"]["data"]["attributes"]["name"]
            if len(name) >= 128:
                raise ValueError(f"metric name has {len(name)} characters; it must be less than 128")
            if len(attributes["properties"]) > 400:
                raise ValueError("more than 400 event properties")
            if attributes.get("unique_id") is not None:
                key = (json.dumps(profile, sort_keys=True), name, attributes["unique_id"])
                if key in seen:
                    raise ValueError(f"unique_id {attributes['unique_id']!r} repeated for one profile and metric")
                seen.add(key)


def _check_postscript_properties(body: dict[str, Any]) -> None:
    """PATCH subscriber ``properties``: the description's types (strings, integers, string arrays, ISO
    dates; booleans for seed 002's TRUE/FALSE): a JSON number with a fraction or a decimal point
    (``250.0``) is none of them."""
    for key, value in (body.get("properties") or {}).items():
        if isinstance(value, float):
            raise ValueError(f"properties/{key} is a decimal number ({value!r}); send an integer or a string")


BODY_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("POST", "/api/v2/events"): _check_event,
    ("PATCH", "/api/v2/subscribers/{id}"): _check_postscript_properties,
    # Attentive v1 (server_prefix "/v1")
    ("POST", "/events/custom"): _check_attentive_event,
    ("POST", "/attributes/custom"): _check_attentive_attributes,
    # Klaviyo
    ("POST", "/api/events"): _check_klaviyo_event,
    ("POST", "/api/profile-import"): _check_klaviyo_profile_import,
    ("POST", "/api/profile-bulk-import-jobs"): _check_klaviyo_bulk_import,
    ("POST", "/api/event-bulk-create-jobs"): _check_klaviyo_bulk_events,
}


@cache
def load_spec(name: str) -> dict[str, Any]:
    """The spec ``specs/<name>`` (YAML or JSON, e.g. ``klaviyo/create_event.json``) with its errata applied."""
    text = (SPECS / name).read_text()
    # JSON is read as JSON: faster, and some JSON escapes are not YAML 1.1 (Attentive's "yaml" is JSON).
    spec = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    spec = copy.deepcopy(spec)
    if name in ERRATA:
        ERRATA[name](spec)
    return spec


class SpecViolation(AssertionError):
    pass


_SPEC_URI = "urn:openapi-spec"


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class RequestValidator:
    """``validate(request)`` raises ``SpecViolation`` naming what is wrong."""

    def __init__(self, spec_name: str, *, server_prefix: str = "") -> None:
        self.spec = load_spec(spec_name)
        self.prefix = server_prefix
        # OpenAPI 3.0 schemas (`nullable`, Draft 4 based) differ from 3.1 ones (JSON Schema 2020-12).
        v30 = str(self.spec.get("openapi", "")).startswith("3.0")
        self._schema_validator = OAS30Validator if v30 else OAS31Validator
        # `$ref`s (recursive ones too) are resolved lazily, against the whole document.
        resource = Resource(contents=self.spec, specification=DRAFT4 if v30 else DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
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
        for param in op.get("parameters", []):
            if param.get("in") == "header" and param.get("required") and param["name"] not in request.headers:
                raise SpecViolation(f"{request.method} {template}: required header {param['name']!r} missing")
        body_spec = op.get("requestBody")
        content = request.content
        if body_spec is None:
            if content:
                raise SpecViolation(f"{request.method} {template}: a body is sent but the spec declares none")
            return
        body_pointer = _pointer("paths", template, request.method.lower(), "requestBody")
        if "$ref" in body_spec:
            body_pointer, body_spec = body_spec["$ref"].lstrip("#"), self._resolve(body_spec)
        media = request.headers.get("content-type", "").split(";")[0].strip()
        if media not in body_spec["content"]:
            raise SpecViolation(f"{request.method} {template}: content-type {media!r} is not one of "
                                f"{sorted(body_spec['content'])}")
        body = json.loads(content)
        schema = {"$ref": _SPEC_URI + "#" + body_pointer + _pointer("content", media, "schema")}
        validator = self._schema_validator(schema, registry=self._registry,
                                           format_checker=self._schema_validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
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
