"""A fast path for ``Schema.load`` on the ingest hot path, compiled from the schema itself.

Marshmallow is the reference: ``compile_loader(schema)`` returns a function that loads a raw
record exactly as ``schema.load`` would, field by field from the same declarations (data keys,
``load_default``, ``allow_none``, ``required``, validators, the fields' own ``_deserialize``,
nested schemas and lists), without marshmallow's per-field bookkeeping (error stores, getter
closures, hooks lookup). Plain values of the declared type (an ``int`` for ``Integer``, a
``str`` for ``String``) are taken as they are; a field of any other class runs its own
``_deserialize``.

It never rejects: whatever it is not sure of (a value of another type, a missing required
field, a validator that fails, an unknown key under ``RAISE``) raises ``Slow``, and the caller
loads that record with marshmallow, which accepts it or rejects it with its usual message
(the field named in the quarantine entry). A schema with hooks (``pre_load``, ``post_load``,
``validates``...) or options the fast path does not model is not compiled (None): all its
records go through marshmallow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing

__all__ = ["Loader", "Slow", "compile_loader"]

#: Loads one raw record (a Mapping) into the schema's output dict, or raises ``Slow``.
Loader = Callable[[Mapping[str, Any]], dict[str, Any]]
_Value = Callable[[Any, Mapping[str, Any]], Any]  # (raw value, raw record) → loaded value


class Slow(Exception):
    """This record needs marshmallow (it may be invalid, or just unusual)."""


_SLOW = Slow()


class _CannotCompile(Exception):
    pass


def compile_loader(schema: Schema) -> Loader | None:
    """The fast loader of ``schema``, or None if it uses something the fast path does not model."""
    try:
        return _schema_loader(schema, schema.unknown)
    except _CannotCompile:
        return None


def _schema_loader(schema: Schema, unknown: str | None, *, many: bool = False) -> Loader:
    """One record of ``schema`` (``many``: the schema is a ``Nested(many=True)``'s, loaded item by item)."""
    if any(schema._hooks.values()) or schema.many != many or (unknown or schema.unknown) not in (EXCLUDE, RAISE):
        raise _CannotCompile
    strict_keys = (unknown or schema.unknown) == RAISE
    steps: list[tuple[str, str, _Value, bool, Any]] = []  # (data key, output key, load, required, default)
    for attr_name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        out = field.attribute or attr_name
        if "." in out:
            raise _CannotCompile  # marshmallow would nest it
        steps.append((key, out, _field_loader(field), field.required, field.load_default))
    known = frozenset(k for k, *_ in steps)
    dict_class = schema.dict_class

    def load(data: Mapping[str, Any]) -> dict[str, Any]:
        if strict_keys and not known.issuperset(data):
            raise _SLOW
        ret = dict_class()
        for key, out, value_of, required, default in steps:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise _SLOW
                if default is missing:
                    continue
                ret[out] = default() if callable(default) else default
            else:
                ret[out] = value_of(value, data)
        return ret

    return load


def _field_loader(field: fields.Field) -> _Value:
    """What ``field.deserialize`` does to a present value (missing values are the caller's)."""
    if getattr(field, "pre_load", None) or getattr(field, "post_load", None):
        raise _CannotCompile
    allow_none = field.allow_none
    validators = tuple(field.validators)
    kind = type(field)
    core: _Value
    if kind in _EXACT and not validators:  # the commonest fields: one check, one call
        return _exact_or_none(_EXACT[kind]) if allow_none else _exact(_EXACT[kind])
    if kind is fields.Integer:
        core = _exact(int)
    elif kind is fields.String:
        core = _exact(str)
    elif kind is fields.Raw:

        def core(v: Any, data: Mapping[str, Any]) -> Any:
            return v

    elif kind is fields.Boolean:
        if not (True in field.truthy and False in field.falsy):  # type: ignore[attr-defined]
            raise _CannotCompile

        def core(v: Any, data: Mapping[str, Any]) -> Any:
            if v is True or v is False:
                return v
            raise _SLOW

    elif kind is fields.Float:

        def core(v: Any, data: Mapping[str, Any]) -> Any:
            if type(v) is float and math.isfinite(v):
                return v
            raise _SLOW

    elif kind is fields.Dict and field.key_field is None and field.value_field is None:  # type: ignore[attr-defined]
        mapping_type = field.mapping_type  # type: ignore[attr-defined]

        def core(v: Any, data: Mapping[str, Any]) -> Any:
            if type(v) is dict:
                return mapping_type(v)
            raise _SLOW

    elif kind is fields.Nested:
        core = _nested(field)  # type: ignore[arg-type]
    elif kind is fields.List:
        item = _field_loader(field.inner)  # type: ignore[attr-defined]

        def core(v: Any, data: Mapping[str, Any]) -> Any:
            if type(v) is not list:
                raise _SLOW
            return [item(x, data) for x in v]

    elif type(field).deserialize is not fields.Field.deserialize or kind.__module__.startswith("marshmallow"):
        raise _CannotCompile  # a marshmallow field class not modelled above, or one with its own deserialize
    else:  # a field of ours: its own _deserialize is the definition

        def core(v: Any, data: Mapping[str, Any], name: str = field.name or "") -> Any:
            try:
                return field._deserialize(v, name, data)
            except ValidationError:
                raise _SLOW from None

    if not validators:
        if allow_none:
            return lambda v, data: None if v is None else core(v, data)

        def plain(v: Any, data: Mapping[str, Any]) -> Any:
            if v is None:
                raise _SLOW
            return core(v, data)

        return plain

    def checked(v: Any, data: Mapping[str, Any]) -> Any:
        if v is None:
            if allow_none:
                return None
            raise _SLOW
        out = core(v, data)
        try:
            for validate in validators:
                if validate(out) is False:
                    raise _SLOW
        except ValidationError:
            raise _SLOW from None
        return out

    return checked


_EXACT: dict[type, type] = {fields.Integer: int, fields.String: str}


def _exact_or_none(kind: type) -> _Value:
    def core(v: Any, data: Mapping[str, Any]) -> Any:
        if v is None or type(v) is kind:
            return v
        raise _SLOW

    return core


def _exact(kind: type) -> _Value:
    def core(v: Any, data: Mapping[str, Any]) -> Any:
        if type(v) is kind:
            return v
        raise _SLOW

    return core


def _nested(field: fields.Nested) -> _Value:
    schema = field.schema
    if field.only is not None or field.exclude or schema.only is not None or schema.exclude:
        raise _CannotCompile
    many = bool(field.many or schema.many)
    inner = _schema_loader(schema, field.unknown, many=many)
    if many:

        def each(v: Any, data: Mapping[str, Any]) -> Any:
            if type(v) is not list:
                raise _SLOW
            return [inner(x) if type(x) is dict else _slow() for x in v]

        return each

    def one(v: Any, data: Mapping[str, Any]) -> Any:
        if type(v) is not dict:
            raise _SLOW
        return inner(v)

    return one


def _slow() -> Any:
    raise _SLOW
