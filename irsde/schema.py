"""Validating configuration documents against JSON Schema files, with readable errors.

Schemas are YAML files in JSON Schema 2020-12, validated with ``jsonschema``. When a schema is
loaded (:func:`load_schema`):

* every ``$ref`` is replaced by the schema it points to, in the same file (``#/$defs/x``) or in
  another one (a path relative to the referring file, e.g. the pipeline's schema pointing into
  the training schema of this package); keys beside a ``$ref`` are added to what it points to,
  and ``x-partial: true`` beside it drops the defaults of what it points to (for a partial
  override of a section, whose missing keys must stay missing);
* ``x-registry: NAME`` becomes ``enum: [...]``, the names the caller gives for NAME (the
  registries of the package, :func:`irsde.train.config.schema_registries`), so the valid values
  are always those of the code and this module imports no domain module; a value that names an
  entry of a registry that ignores case (the datasets) in another case is replaced by the
  registered spelling before it is checked (:func:`irsde.registry.match_ignoring_case`, the rule
  the command line uses too);
* ``x-default: NAME`` becomes ``default: VALUE`` with the value the caller gives for NAME (e.g.
  the paper's SDE, defined once in :mod:`irsde.paper`).

:func:`validate` returns a checked copy of the document with every ``default`` filled in and
keys in schema order. Beyond plain JSON Schema it reads numbers written as YAML strings (YAML
1.1 leaves ``1e-4`` a string), stores ``number`` values as floats, refuses NaN and infinities,
expands ``~`` in ``format: path`` strings, and checks ``x-increasing: true`` arrays. The first
error raises a ValueError that names the dotted key (``optim.betas[1]``), says what was
expected, lists the valid choices and suggests a close key name for a misspelt one.
"""

from __future__ import annotations

import copy
import functools
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from jsonschema import Draft202012Validator, ValidationError, validators

from irsde.documents import read_yaml_file
from irsde.registry import closest, did_you_mean, match_ignoring_case


# ----------------------------------------------------------------------------------- loading


Registries = Mapping[str, Iterable[str]]
"""What ``x-registry: NAME`` stands for: NAME -> the valid names (given by the caller, so that
this module knows no domain; a collection with a true ``ignore_case`` attribute, such as an
:class:`irsde.registry.Registry`, matches names whatever their case). The caller may also give
the values ``x-default: NAME`` stands for, under the key :data:`DEFAULTS`: ``{DEFAULTS: {NAME: value}}``."""

DEFAULTS = "x-default"


def load_schema(path: str | os.PathLike, registries: Registries | None = None) -> dict:
    """The schema in ``path`` with its references filled in, every ``x-registry: NAME`` replaced
    by ``enum: registries[NAME]`` and every ``x-default: NAME`` by ``default:
    registries[DEFAULTS][NAME]``. Loaded once per file and set of names (a copy is returned:
    callers may change it)."""
    given = dict(registries or {})
    defaults = tuple(sorted(given.pop(DEFAULTS, {}).items()))  # simple values: strings and numbers
    names = tuple(sorted((name, (tuple(values), bool(getattr(values, "ignore_case", False))))
                         for name, values in given.items()))
    return copy.deepcopy(_load(Path(path).resolve(), names, defaults))


@functools.lru_cache(maxsize=32)
def _load(path: Path, names: tuple, defaults: tuple) -> dict:
    document = _read_yaml(path)
    return _resolve(document, document, path, 0, dict(names), dict(defaults))


def _read_yaml(path: Path) -> dict:
    return read_yaml_file(path, "schema file")


def _resolve(node, document: dict, path: Path, depth: int, registries: Mapping[str, tuple[tuple[str, ...], bool]],
             defaults: Mapping):
    if depth > 50:
        raise ValueError(f"{path}: $ref chain too deep (a cycle?)")
    if isinstance(node, list):
        return [_resolve(item, document, path, depth, registries, defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _resolve(value, document, path, depth, registries, defaults) for key, value in node.items()
            if key != "$ref"} | ({"$ref": node["$ref"]} if "$ref" in node else {})
    if "$ref" in node:
        target, target_document, target_path = _follow(node.pop("$ref"), document, path)
        resolved = _resolve(target, target_document, target_path, depth + 1, registries, defaults)
        if node.pop("x-partial", False):
            resolved = _without_defaults(resolved)
        return {**resolved, **node}
    if "x-registry" in node:
        name = node.pop("x-registry")
        if name not in registries:
            raise ValueError(f"{path}: x-registry: unknown registry {name!r}; choose one of: {', '.join(registries)}")
        names, ignore_case = registries[name]
        node["enum"] = list(names)
        if ignore_case:
            node["x-ignore-case"] = True
    if "x-default" in node:
        name = node.pop("x-default")
        if name not in defaults:
            raise ValueError(f"{path}: x-default: unknown value {name!r}; the caller gives: {', '.join(defaults)}")
        node["default"] = copy.deepcopy(defaults[name])
    return node


def _without_defaults(node):
    if isinstance(node, list):
        return [_without_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: _without_defaults(value) for key, value in node.items() if key != "default"}


def _follow(reference: str, document: dict, path: Path) -> tuple[object, dict, Path]:
    """The node a ``$ref`` points to, with the document and file it lives in."""
    file_part, _, pointer = reference.partition("#")
    if file_part:
        path = (path.parent / file_part).resolve()
        document = _read_yaml(path)
    node = document
    for part in filter(None, pointer.split("/")):
        try:
            node = node[part]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: $ref {reference!r} points to nothing") from None
    return node, document, path


# ----------------------------------------------------------------------------------- validating


def _is_finite_number(checker, value) -> bool:
    return Draft202012Validator.TYPE_CHECKER.is_type(value, "number") and math.isfinite(value)


def _is_int(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _increasing(validator, enabled, instance, schema):
    if not (enabled and isinstance(instance, list)):
        return
    try:
        decreasing = any(b <= a for a, b in zip(instance, instance[1:]))
    except TypeError:  # items of the wrong type: their own errors say so
        return
    if decreasing:
        yield ValidationError(f"{instance!r} is not strictly increasing")


def _properties_with_defaults(validator, properties, instance, schema):
    """``properties``, after filling defaults and reading strings/ints as the schema's numbers."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if name not in instance and "default" in subschema:
                instance[name] = copy.deepcopy(subschema["default"])
            if name in instance:
                instance[name] = _coerce(instance[name], subschema)
    yield from _PROPERTIES(validator, properties, instance, schema)


def _coerce(value, schema: Mapping):
    types = schema.get("type", ())
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and schema.get("format") == "path":
        return str(Path(value).expanduser())
    for part in (schema, *schema.get("anyOf", ())):
        if part.get("x-ignore-case") and isinstance(value, str):
            return match_ignoring_case(value, part["enum"]) or value
    if isinstance(value, str) and ("number" in types or "integer" in types):
        try:
            return int(value) if "integer" in types else float(value)
        except ValueError:
            return value
    if "number" in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


_PROPERTIES = Draft202012Validator.VALIDATORS["properties"]
_Validator = validators.extend(
    Draft202012Validator,
    validators={"properties": _properties_with_defaults, "x-increasing": _increasing},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"number": _is_finite_number, "integer": _is_int}),
)


def validate(document: Mapping, schema: Mapping | str | os.PathLike, registries: Registries | None = None) -> dict:
    """A checked copy of ``document`` with defaults filled in, in schema order.

    ``schema`` is a loaded schema or a schema file (loaded with ``registries``). Raises ValueError
    on the first problem, the one nearest the top of the document (see the module docstring).
    """
    if not isinstance(schema, Mapping):
        schema = load_schema(schema, registries)
    if not isinstance(document, Mapping):
        raise ValueError(f"a config must be a mapping of keys to values, got {type(document).__name__}")
    resolved = copy.deepcopy(dict(document))
    validator = _Validator(schema)
    for _ in validator.iter_errors(resolved):  # a first pass fills defaults everywhere ...
        pass
    errors = [error for error in validator.iter_errors(resolved) if not _spurious(error)]  # ... the second judges
    if errors:
        raise ValueError(error_message(min(errors, key=_report_order)))
    return _in_schema_order(resolved, schema)


def _spurious(error: ValidationError) -> bool:
    """``unevaluatedProperties`` also lists known keys whose values failed: those are reported
    by their own errors."""
    return error.validator == "unevaluatedProperties" and not _unknown_keys(error)


def _unknown_keys(error: ValidationError) -> list[str]:
    known = _properties(error.schema)
    return [name for name in error.instance if name not in known]


def _report_order(error: ValidationError) -> tuple:
    """Errors nearest the top first; at one depth, unknown or missing keys before bad values."""
    return len(error.absolute_path), error.validator not in ("additionalProperties", "unevaluatedProperties", "required")


def _in_schema_order(value, schema: Mapping):
    if not isinstance(value, dict):
        return value
    properties = _properties(schema)
    ordered = {name: _in_schema_order(value[name], properties[name]) for name in properties if name in value}
    ordered.update({name: item for name, item in value.items() if name not in ordered})
    return ordered


def _properties(schema: Mapping) -> dict:
    """The properties a schema names, its own and those of its ``allOf`` parts, in order."""
    properties = dict(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        properties.update({name: sub for name, sub in _properties(part).items() if name not in properties})
    return properties


# ----------------------------------------------------------------------------------- messages


def dotted_key(path: Iterable, prefix: str = "") -> str:
    """``["optim", "betas", 1]`` -> ``optim.betas[1]`` (appended to the dotted key ``prefix``)."""
    key = prefix
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def error_message(error: ValidationError) -> str:
    """One line naming the key at fault, what is wrong and what would be right."""
    key = dotted_key(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        unknown = _unknown_keys(error)[0]
        return _unknown_key_message(dotted_key([unknown], key), unknown, list(_properties(error.schema)))
    if error.validator == "uniqueItems":
        repeated = next(item for index, item in enumerate(error.instance) if item in error.instance[:index])
        return f"config key '{key}': {repeated!r} is listed twice; list each entry once"
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"config key '{dotted_key([missing], key)}' is required"
    choices = _choices(error.schema)
    if choices is not None:
        hint = did_you_mean(error.instance, [str(c) for c in choices if c is not None])
        listed = ", ".join(str(choice) for choice in choices)
        return f"config key '{key}': {error.instance!r} is not valid{hint}; choose one of: {listed}"
    return f"config key '{key}': expected {describe(error.schema)}, got {error.instance!r}"


def _unknown_key_message(key: str, name: str, known: list[str]) -> str:
    close = closest(name, known)
    hint = f"; did you mean '{close}'?" if close else ""
    return f"unknown config key '{key}'{hint} (valid here: {', '.join(known)})"


def _choices(schema: Mapping) -> list | None:
    """The values an enum schema (or an anyOf of enums and patterns) allows, else None."""
    if "enum" in schema:
        return list(schema["enum"])
    if "anyOf" in schema and any("enum" in part for part in schema["anyOf"]):
        choices = []
        for part in schema["anyOf"]:
            choices += part["enum"] if "enum" in part else [part.get("description", describe(part))]
        return choices
    return None


_TYPE_WORDS = {"integer": "an integer", "number": "a finite number", "string": "a string", "boolean": "true or false",
               "array": "a list", "object": "a mapping of keys to values", "null": "null"}


def describe(schema: Mapping) -> str:
    """What a value must be, in words: ``an integer >= 1``, ``a list of 2 values, each ...``."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if schema.get("format") == "path":
        words = "a path"
    elif schema.get("pattern") == r"\S":
        words = "a non-empty string"
    elif "pattern" in schema:
        words = schema.get("description", f"a string matching {schema['pattern']}")
    elif "array" in types:
        each = describe(schema.get("items", {}))
        count = schema.get("minItems") if schema.get("minItems") == schema.get("maxItems") else None
        words = f"a list of {count} values, each {each}" if count else f"a list, each value {each}"
        if schema.get("x-increasing"):
            words = f"a strictly increasing {words[2:]}"
    elif types == ["null"]:
        return "null"
    else:
        words = " or ".join(_TYPE_WORDS[t] for t in types if t != "null") or "a value"
        words += _bounds(schema)
    return f"{words} or null" if "null" in types and len(types) > 1 else words


def _bounds(schema: Mapping) -> str:
    low, high = schema.get("exclusiveMinimum", schema.get("minimum")), schema.get("exclusiveMaximum", schema.get("maximum"))
    if low is not None and high is not None:
        left = "(" if "exclusiveMinimum" in schema else "["
        right = ")" if "exclusiveMaximum" in schema else "]"
        return f" in {left}{low}, {high}{right}"
    if low is not None:
        return f" {'>' if 'exclusiveMinimum' in schema else '>='} {low}"
    if high is not None:
        return f" {'<' if 'exclusiveMaximum' in schema else '<='} {high}"
    return ""


def schema_defaults(schema: Mapping) -> dict:
    """The defaults of an object schema, nested (properties without a default are left out)."""
    defaults = {}
    for name, subschema in _properties(schema).items():
        if _properties(subschema):
            defaults[name] = schema_defaults(subschema)
        elif "default" in subschema:
            defaults[name] = copy.deepcopy(subschema["default"])
    return defaults


def leaf_keys(schema: Mapping, prefix: str = "") -> list[str]:
    """Every dotted leaf key of an object schema, in schema order."""
    keys = []
    for name, subschema in _properties(schema).items():
        dotted = f"{prefix}{name}"
        keys += leaf_keys(subschema, dotted + ".") if _properties(subschema) else [dotted]
    return keys
