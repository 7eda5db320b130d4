"""Checking one provider object against its contract: a published OpenAPI component, or a
field table written from a provider's documentation.

Both reject what the source does not declare (an extra field is a field we invented) and
name the field and the object it was found in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.openapi import load_spec

__all__ = ["ContractViolation", "FieldTable", "check_component", "check_table"]


class ContractViolation(AssertionError):
    pass


def _undeclared(schema: Mapping[str, Any], obj: Any, where: str, spec: Mapping[str, Any]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    if isinstance(obj, list) and "items" in schema:
        return [p for i, item in enumerate(obj) for p in _undeclared(schema["items"], item, f"{where}[{i}]", spec)]
    if not isinstance(obj, Mapping) or "properties" not in schema:
        return []
    out = [f"{where}.{k}" for k in obj if k not in schema["properties"]]
    for key, value in obj.items():
        if key in schema["properties"]:
            out += _undeclared(schema["properties"][key], value, f"{where}.{key}", spec)
    return out


def check_component(spec_name: str, component: str, obj: Any) -> None:
    """``obj`` is a valid ``#/components/schemas/<component>`` of ``specs/<spec_name>`` (an
    OpenAPI 3.1 document) with no field the component does not declare."""
    spec = load_spec(spec_name)
    registry: Registry[Any] = Registry().with_resource("urn:spec", Resource(contents=spec,
                                                                            specification=DRAFT202012))
    validator = OAS31Validator({"$ref": f"urn:spec#/components/schemas/{component}"}, registry=registry)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        raise ContractViolation(f"{component}.{'.'.join(str(p) for p in err.path) or '(root)'}: {err.message}")
    extra = _undeclared(spec["components"]["schemas"][component], obj, component, spec)
    if extra:
        raise ContractViolation(f"not in Smile's published {component}: {', '.join(extra)}")


@dataclass(frozen=True)
class FieldTable:
    """A documented object: field → accepted Python types; ``nested`` for embedded objects."""

    name: str
    fields: Mapping[str, tuple[type, ...]]
    required: tuple[str, ...] = ()
    nested: Mapping[str, "FieldTable"] | None = None


def check_table(table: FieldTable, obj: Any, where: str = "") -> None:
    """``obj`` carries only documented fields, each of a documented type, and every required one."""
    where = where or table.name
    if not isinstance(obj, Mapping):
        raise ContractViolation(f"{where}: expected an object, got {type(obj).__name__}")
    for name in table.required:
        if name not in obj:
            raise ContractViolation(f"{where}.{name}: missing")
    for name, value in obj.items():
        if name not in table.fields:
            raise ContractViolation(f"{where}.{name}: not a documented field of {table.name}")
        if value is None:
            if type(None) not in table.fields[name]:
                raise ContractViolation(f"{where}.{name}: null, documented as {table.fields[name]}")
            continue
        allowed = table.fields[name]
        if isinstance(value, bool) and bool not in allowed:
            raise ContractViolation(f"{where}.{name}: a boolean, documented as {allowed}")
        if not isinstance(value, allowed):
            raise ContractViolation(f"{where}.{name}: {type(value).__name__}, documented as {allowed}")
        sub = (table.nested or {}).get(name)
        if sub is not None:
            for i, item in enumerate(value if isinstance(value, list) else [value]):
                check_table(sub, item, f"{where}.{name}" + (f"[{i}]" if isinstance(value, list) else ""))
