"""Configurations of a plugin: their JSON Schema, valid ones, and ones breaking one rule.

Every dialect of manifest.json goes through one path: each key becomes a
JSON Schema property (``to_json_schema``), and the same schema is compiled
into a strategy (``_schema.Compiler``), so the schema a test validates with
and the values drawn cannot drift apart.  The harness's ``check_value`` says
the same as JSON Schema for every keyword the manifest models (type, enum,
bounds, ``re.search`` patterns, lengths), and it is applied as well to the
values a manifest *lists* (enum members, defaults), which may break it.

A broken value is built to break one rule only: by construction (a number
below the minimum is an ``st.integers``/``st.floats`` with the minimum as an
exclusive maximum, a wrong type is a value of the *other* types that meets
every other keyword), or, for enum and pattern, by drawing a value of the
relaxed schema and falling back to a witness found while building the
strategy when the draw happens to meet the rule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..manifest._load import _TYPE_ALIASES, ConfigOption, Manifest
from ..manifest._rules import check_value
from ._args import as_manifest, describe, short_repr
from ._schema import JSON_TYPES, NON_INTEGRAL, Compiler, Empty
from ._values import samples

__all__ = [
    "DRAFT_2020_12",
    "RULES",
    "BrokenRule",
    "InvalidConfig",
    "configs",
    "invalid_configs",
    "to_json_schema",
]

DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"

#: The rules a configuration value can break, in the order ``check_value`` tests them.
RULES: Final = ("required", "type", "enum", "min", "max", "pattern", "min_length", "max_length")

#: rule -> the ConfigOption field that declares it.
_RULE_FIELDS: Final = {
    "type": "type",
    "enum": "enum",
    "min": "minimum",
    "max": "maximum",
    "pattern": "pattern",
    "min_length": "min_length",
    "max_length": "max_length",
}


@dataclass(frozen=True)
class BrokenRule:
    """The one rule an :class:`InvalidConfig` breaks.

    ``rule`` is one of ``required``, ``type``, ``enum``, ``min``, ``max``,
    ``pattern``, ``min_length``, ``max_length``; ``message`` is what
    ``check_value`` says about the value (``"max: 11 is above the maximum 10"``),
    or ``"required: the key is missing"``.
    """

    key: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class InvalidConfig:
    """A configuration breaking exactly one rule (``violation``); every other key is valid."""

    config: dict[str, Any]
    violation: BrokenRule


# ---------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class _Key:
    """One configuration key: its option, its JSON Schema, and the schema values are drawn from.

    ``gen`` is ``doc`` narrowed to what ``check_value`` also accepts: a
    ``configuration_schema`` property typed ``["string", "null"]`` is modelled
    by the harness as a string, so only strings are drawn.
    """

    name: str
    option: ConfigOption
    doc: dict[str, Any]
    gen: dict[str, Any]
    where: str

    @property
    def doc_types(self) -> frozenset[str]:
        """The JSON types ``doc`` allows (every type when it has no ``type``)."""
        value = self.doc.get("type")
        if value is None:
            return frozenset(JSON_TYPES)
        names = set(value if isinstance(value, list) else [value])
        return frozenset(names | ({"integer"} if "number" in names else set()))


def _normalise_type(value: Any) -> Any:
    if isinstance(value, list):
        return list(dict.fromkeys(_normalise_type(v) for v in value))
    if isinstance(value, str):
        return _TYPE_ALIASES.get(value.lower(), value)
    return value


def _option_schema(option: ConfigOption) -> dict[str, Any]:
    """The ``configuration`` dialect: each field of the entry as its JSON Schema keyword."""
    schema: dict[str, Any] = {}
    if option.type is not None:
        schema["type"] = option.type
    if option.description:
        schema["description"] = option.description
    if option.has_default:
        schema["default"] = copy.deepcopy(option.default)
    if option.enum is not None:
        schema["enum"] = copy.deepcopy(list(option.enum))
    if option.minimum is not None:
        schema["minimum"] = option.minimum
    if option.maximum is not None:
        schema["maximum"] = option.maximum
    if option.pattern is not None:
        schema["pattern"] = option.pattern
    if option.format is not None:
        schema["format"] = option.format
    if option.min_length is not None:
        schema["minLength"] = option.min_length
    if option.max_length is not None:
        schema["maxLength"] = option.max_length
    if option.secret:
        schema["writeOnly"] = True
    return schema


def _flat_schema(option: ConfigOption) -> dict[str, Any]:
    """The flat ``config`` dialect: the type of the default, nothing inside arrays or objects."""
    schema: dict[str, Any] = {} if option.type is None else {"type": option.type}
    schema["default"] = copy.deepcopy(option.default)
    return schema


def _schema_key(manifest: Manifest) -> str:
    for key in ("configuration_schema", "config_schema"):
        if key in manifest.raw:
            return key
    return "configuration"


def _embedded(manifest: Manifest) -> dict[str, Any]:
    """The ``configuration_schema`` dialect: the schema as written, made a 2020-12 object schema."""
    raw = copy.deepcopy(dict(manifest.config_schema or {}))
    raw.pop("$schema", None)
    schema: dict[str, Any] = {"$schema": DRAFT_2020_12, "type": "object", **raw}
    schema.setdefault("additionalProperties", True)
    properties = schema.get("properties", {})
    for key, option in manifest.configuration.items():
        prop = properties[key]
        if "type" in prop:
            prop["type"] = _normalise_type(prop["type"])
        if not isinstance(prop.get("required", []), list):
            del prop["required"]  # "required": true inside a property means nothing to the loader
        if option.secret:
            prop["writeOnly"] = True
    return schema


def to_json_schema(manifest: Manifest | Mapping[str, Any]) -> dict[str, Any]:
    """The plugin's configuration as a JSON Schema (draft 2020-12) object.

    ``manifest`` is a :class:`~nexus_testkit.Manifest` or a dict parsed from
    manifest.json, of any dialect; the mapping is documented in
    docs/property-testing.md.  Keys the manifest does not declare are allowed
    (``additionalProperties: true``), as the platform stores extra keys.
    """
    m = as_manifest(manifest)
    return _to_json_schema(m)


def _to_json_schema(m: Manifest) -> dict[str, Any]:
    if m.config_dialect == "configuration_schema":
        return _embedded(m)
    build = _flat_schema if m.config_dialect == "config" else _option_schema
    properties = {key: build(option) for key, option in m.configuration.items()}
    return {
        "$schema": DRAFT_2020_12,
        "title": f"{m.name} configuration",
        "type": "object",
        "properties": properties,
        "required": list(m.required_keys),
        "additionalProperties": True,
    }


def _keys(m: Manifest) -> list[_Key]:
    schema = _to_json_schema(m)
    if m.config_dialect == "configuration_schema":
        prefix = f"{_schema_key(m)}.properties"
    else:
        prefix = m.config_dialect
    keys = []
    for name, option in m.configuration.items():
        doc = schema["properties"][name]
        gen = dict(doc)
        if isinstance(gen.get("type"), list) and option.type is not None:
            gen["type"] = option.type
        keys.append(_Key(name, option, doc, gen, f"{prefix}.{name}"))
    return keys


# ---------------------------------------------------------------------------- valid values


def _accepts(option: ConfigOption) -> Callable[[Any], bool]:
    return lambda value: check_value(option, value) is None


def _valid_values(m: Manifest, key: _Key, who: str) -> st.SearchStrategy[Any]:
    compiler = Compiler(describe(m), who, accept=_accepts(key.option))
    boundaries = []
    option = key.option
    if (
        option.has_default
        and check_value(option, option.default) is None
        and compiler.validator(key.gen).is_valid(option.default)
    ):
        boundaries.append(option.default)
    hint = f"; or pass a value for it: {who[:-2]}(manifest, {key.name}=...)"
    try:
        return compiler.compile(key.gen, key.where, boundaries)
    except Empty as exc:
        raise InvalidArgument(
            f"{describe(m)}: no value of {key.name!r} satisfies its rules "
            f"({exc.where}: {exc.problem}); fix the manifest{hint}"
        ) from None
    except InvalidArgument as exc:
        raise InvalidArgument(f"{exc}{hint}") from None


def _override(m: Manifest, key: _Key, value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, st.SearchStrategy):
        return value
    problem = check_value(key.option, value)
    if problem is None:
        errors = list(Compiler(describe(m), "configs()").validator(key.gen).iter_errors(value))
        problem = errors[0].message if errors else None
    if problem is not None:
        raise InvalidArgument(
            f"{key.name}={short_repr(value)} breaks a rule of {describe(m)} ({problem}); "
            f"to use it anyway pass a strategy: {key.name}=st.just({short_repr(value)})"
        )
    strategy = st.just(value)
    return strategy.map(copy.deepcopy) if isinstance(value, list | dict) else strategy


def configs(
    manifest: Manifest | Mapping[str, Any], /, **overrides: Any
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid configurations of the plugin, built from the manifest's rules.

    Every drawn dict satisfies ``check_value`` for each key and validates
    against :func:`to_json_schema`.  Required keys are always present, the
    others sometimes.  Boundary values (the default, the bounds, ``""`` where
    allowed, each enum member) are drawn half of the time; strings with a
    ``format`` (email, uri, date-time, uuid, ipv4, hostname, ...) are realistic.

    ``overrides`` replace a key's values: a strategy (used as given) or a plain
    value (checked against the rules); an overridden key is always present.
    """
    m = as_manifest(manifest)
    keys = {key.name: key for key in _keys(m)}
    _check_override_keys(m, keys, overrides)
    return _configs(m, keys, overrides, "configs()")


def _check_override_keys(
    m: Manifest, keys: Mapping[str, _Key], overrides: Mapping[str, Any]
) -> None:
    unknown = [name for name in overrides if name not in keys]
    if unknown:
        name = unknown[0]
        known = ", ".join(keys) or "(none: the manifest declares no configuration)"
        raise InvalidArgument(
            f"{name}={short_repr(overrides[name])} is not a configuration key of {describe(m)}; "
            f"its keys are: {known}"
        )


def _configs(
    m: Manifest, keys: Mapping[str, _Key], overrides: Mapping[str, Any], who: str
) -> st.SearchStrategy[dict[str, Any]]:
    mandatory: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, key in keys.items():
        if name in overrides:
            mandatory[name] = _override(m, key, overrides[name])
        elif key.option.required:
            mandatory[name] = _valid_values(m, key, who)
        else:
            optional[name] = _valid_values(m, key, who)
    mandatory.update(_undeclared_required(m, who))
    return st.fixed_dictionaries(mandatory, optional=optional)


def _undeclared_required(m: Manifest, who: str) -> dict[str, st.SearchStrategy[Any]]:
    """Names an embedded schema requires without declaring them: no rule, so any value."""
    schema = m.config_schema
    if m.config_dialect != "configuration_schema" or schema is None:
        return {}
    required = schema.get("required", [])
    names = [n for n in required if isinstance(n, str) and n not in m.configuration]
    if not names:
        return {}
    compiler = Compiler(describe(m), who)
    where = f"{_schema_key(m)}.additionalProperties"
    try:
        values = compiler.compile(schema.get("additionalProperties", True), where)
    except Empty:
        raise InvalidArgument(
            f"{describe(m)}: {_schema_key(m)} requires {names[0]!r} without declaring it, and "
            "additionalProperties allows no value for it; fix the manifest"
        ) from None
    return dict.fromkeys(names, values)


# ---------------------------------------------------------------------------- broken values


def _relax(option: ConfigOption, rule: str) -> ConfigOption:
    changes: dict[str, Any] = {_RULE_FIELDS[rule]: None}
    return replace(option, **changes)


def _breaks_only(option: ConfigOption, rule: str) -> Callable[[Any], bool]:
    """Whether a value breaks ``rule`` of ``option`` and would be valid without that rule."""
    relaxed = _relax(option, rule)

    def test(value: Any) -> bool:
        problem = check_value(option, value)
        return (
            problem is not None
            and problem.startswith(f"{rule}:")
            and check_value(relaxed, value) is None
        )

    return test


def _without(schema: Mapping[str, Any], *keywords: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in keywords}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _candidates(option: ConfigOption, schema: Mapping[str, Any]) -> list[Any]:
    """Values worth trying as a witness that breaks enum or pattern and nothing else."""
    values: list[Any] = [None, True, False, 0, 1, -1, 0.5, -0.5, "", [], {}, [0], {"k": 0}]
    bounds: list[float] = []
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        b: Any = schema.get(keyword)
        if _is_number(b) and math.isfinite(b):
            bounds.append(b)
    for b in bounds:
        values += [b, b - 1, b + 1, b - 0.5, b + 0.5, math.floor(b), math.ceil(b)]
        values += [math.floor(b) - 1, math.ceil(b) + 1, math.ceil(b) + 0.5]
    if len(bounds) >= 2:
        low, high = min(bounds), max(bounds)
        values += [(low + high) / 2, math.floor((low + high) / 2), math.ceil((low + high) / 2)]
        values += list(range(math.ceil(low), min(math.floor(high), math.ceil(low) + 64) + 1))
    texts = ["!!", "~", " ", "0", "a", "A", "_", "-", "\n", "é", "nexus test value"]
    for member in list(option.enum or ()):
        values.append(member)
        if _is_number(member):
            values += [member - 1, member + 1, member - 0.5, member + 0.5, member + 2]
        elif isinstance(member, str) and member:
            last = ord(member[-1])
            texts += [member + "-other", member[:-1], member + member[-1], member * 2]
            texts += [member + "0", member + "a", member.upper(), member.lower()]
            texts += [member[:-1] + chr(c) for c in (last - 1, last + 1) if 0 < c < 0xD800]
    lengths = {1, 2, 3}
    for length in (option.min_length, option.max_length):
        if length is not None:
            lengths |= {length, length + 1, max(length - 1, 0)}
    for length in sorted(lengths):
        if length <= 10_000:
            texts += [c * length for c in "!~ 0aA-é"]
    return values + texts


def _witnessed(
    compiler: Compiler,
    base_schema: Mapping[str, Any],
    candidates: list[Any],
    accept: Callable[[Any], bool],
    where: str,
) -> st.SearchStrategy[Any] | None:
    """Values of ``base_schema`` that ``accept``; a draw that is not accepted becomes a witness."""
    try:
        base = compiler.compile(base_schema, where)
    except Empty:
        return None
    validator = compiler.validator(base_schema)
    witnesses = [v for v in candidates if accept(v) and validator.is_valid(v)]
    if not witnesses:
        return None
    return st.tuples(base, samples(witnesses)).map(
        lambda pair: pair[0] if accept(pair[0]) else pair[1]
    )


def _breaker(m: Manifest, key: _Key, rule: str) -> st.SearchStrategy[Any] | None:
    """Values of ``key`` breaking ``rule`` and nothing else, or ``None`` if there are none."""
    option, gen = key.option, key.gen
    accept = _breaks_only(option, rule)
    compiler = Compiler(describe(m), "invalid_configs()", accept=accept)
    numeric = option.type in (None, "integer", "number")
    textual = option.type in (None, "string")
    schema: dict[str, Any]

    if rule == "type":
        if option.type is None:
            return None
        allowed = key.doc_types | {option.type}
        rest = _without(gen, "type")
        parts = []
        others = [t for t in JSON_TYPES if t not in allowed]
        if option.type == "integer" and "number" in others:
            others.remove("number")
            parts.append({**rest, "type": "number", NON_INTEGRAL: True})
        if others:
            parts.append({**rest, "type": others})
        strategies = []
        for part in parts:
            try:
                strategies.append(compiler.compile(part, key.where))
            except Empty:
                continue
        return st.one_of(strategies) if strategies else None
    if rule == "enum":
        if option.enum is None:
            return None
        base = _without(gen, "enum", "const")
        return _witnessed(compiler, base, _candidates(option, gen), accept, key.where)
    if rule == "pattern":
        if option.pattern is None or not textual:
            return None
        base = {**_without(gen, "pattern"), "type": "string"}
        return _witnessed(compiler, base, _candidates(option, gen), accept, key.where)
    if rule in ("min", "max"):
        declared = option.minimum if rule == "min" else option.maximum
        if declared is None or not numeric:
            return None
        bound: float = declared
        # Below the minimum is "exclusive maximum = minimum", and the mirror image.
        if rule == "min":
            drop, limit = "minimum", "exclusiveMaximum"
        else:
            drop, limit = "maximum", "exclusiveMinimum"
        schema = _without(gen, drop)
        current: Any = schema.get(limit)
        if _is_number(current):
            bound = min(current, bound) if rule == "min" else max(current, bound)
        schema[limit] = bound
        schema.setdefault("type", option.type or "number")
    elif rule == "min_length":
        if not option.min_length or not textual:
            return None
        current = gen.get("maxLength")
        longest = option.min_length - 1
        schema = {**_without(gen, "minLength"), "type": "string"}
        schema["maxLength"] = longest if not isinstance(current, int) else min(current, longest)
    elif rule == "max_length":
        if option.max_length is None or not textual:
            return None
        current = gen.get("minLength")
        shortest = option.max_length + 1
        schema = {**_without(gen, "maxLength"), "type": "string"}
        schema["minLength"] = shortest if not isinstance(current, int) else max(current, shortest)
    else:  # pragma: no cover - RULES is closed
        raise AssertionError(rule)
    try:
        return compiler.compile(schema, key.where)
    except Empty:
        return None


@st.composite
def _missing(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], key: str) -> InvalidConfig:
    config = draw(valid)
    config.pop(key, None)
    return InvalidConfig(config, BrokenRule(key, "required", "required: the key is missing"))


@st.composite
def _replaced(
    draw: st.DrawFn,
    valid: st.SearchStrategy[dict[str, Any]],
    key: str,
    rule: str,
    option: ConfigOption,
    breaker: st.SearchStrategy[Any],
) -> InvalidConfig:
    config = draw(valid)
    config[key] = value = draw(breaker)
    message = check_value(option, value)
    assert message is not None, f"{key}={value!r} was drawn to break {rule} but is valid"
    return InvalidConfig(config, BrokenRule(key, rule, message))


def invalid_configs(
    manifest: Manifest | Mapping[str, Any], /, **overrides: Any
) -> st.SearchStrategy[InvalidConfig]:
    """Configurations breaking exactly one rule of the manifest, each tagged with that rule.

    A drawn :class:`InvalidConfig` has every key valid but one, which is missing
    (``required``) or holds a value breaking one rule and only that one: a wrong
    type, below the minimum, above the maximum, not in the enum, not matching the
    pattern, shorter than ``min_length`` or longer than ``max_length``.  Raises
    ``InvalidArgument`` when the manifest declares no rule a value can break.

    ``overrides`` are as for :func:`configs` and apply to the keys left valid:
    when a plugin is stricter than its manifest, they keep the valid part valid
    for the plugin too.  The overridden key's own rules are still broken.
    """
    m = as_manifest(manifest)
    keys = {key.name: key for key in _keys(m)}
    _check_override_keys(m, keys, overrides)
    valid = _configs(m, keys, overrides, "invalid_configs()")
    branches: list[st.SearchStrategy[InvalidConfig]] = []
    for name, key in keys.items():
        if key.option.required:
            branches.append(_missing(valid, name))
        for rule in RULES[1:]:
            breaker = _breaker(m, key, rule)
            if breaker is not None:
                branches.append(_replaced(valid, name, rule, key.option, breaker))
    if not branches:
        declared = ", ".join(keys) or "none"
        raise InvalidArgument(
            f"{describe(m)} declares no configuration rule a value can break (keys: {declared}): "
            "no key is required or typed or bounded, so every configuration is valid and "
            "invalid_configs() has nothing to generate"
        )
    return st.one_of(branches)
