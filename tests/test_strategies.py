"""Property tests of nexus_testkit.strategies, in hypothesis-jsonschema's spirit.

A strategy draws random *manifests* of every dialect (keys, types, bounds that
are negative or not whole, enums, patterns from a small safe set, formats,
required and secret flags, string lengths); for each, every configuration drawn
from ``configs`` must pass the harness's own ``check_value`` *and* validate
against ``to_json_schema`` with jsonschema, and every ``invalid_configs`` draw
must break exactly the rule it is tagged with.  Event payloads are checked
against random event schemas, request bodies against the OpenAPI document
and, for the example plugin, against FastAPI itself through ``PluginHost``.

Runs are derandomized, so a failure here reproduces on the next run.  For a
deeper, random search set ``NEXUS_STRATEGIES_EXAMPLES`` (e.g. 2000): the
property tests then draw that many manifests from a fresh seed.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

import nexus_testkit.strategies as strategies
from nexus_testkit import ConfigOption, Manifest, PluginHost, load_manifest
from nexus_testkit.manifest._load import _build
from nexus_testkit.manifest._rules import check_value
from nexus_testkit.strategies import (
    BrokenRule,
    InvalidConfig,
    configs,
    event_payloads,
    invalid_configs,
    request_bodies,
    to_json_schema,
)

from ._helpers import EXAMPLES, needs_platform

DEEP = os.environ.get("NEXUS_STRATEGIES_EXAMPLES")
PROPERTIES = settings(
    max_examples=int(DEEP or 150),
    deadline=None,
    database=None,
    derandomize=DEEP is None,
    suppress_health_check=[HealthCheck.too_slow],
)
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
MY_PLUGIN = EXAMPLES / "my_awesome_plugin"
MY_MANIFEST = load_manifest(MY_PLUGIN)
RULE_KEYWORDS = {
    "required": {"required"},
    "type": {"type"},
    "enum": {"enum", "const"},
    "min": {"minimum"},
    "max": {"maximum"},
    "pattern": {"pattern"},
    "min_length": {"minLength"},
    "max_length": {"maxLength"},
}


def build(data: dict[str, Any]) -> Manifest:
    return _build(Path("<dict>"), data)


def draws(strategy: st.SearchStrategy[Any], n: int = 30) -> list[Any]:
    """``n`` values of ``strategy``, the same ones every run."""
    values: list[Any] = []

    @settings(PROPERTIES, max_examples=n, phases=[Phase.generate])
    @given(strategy)
    def collect(value: Any) -> None:
        values.append(value)

    collect()
    return values


def found(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    """A value of ``strategy`` meeting ``condition``, searched with a fixed seed."""
    return find(
        strategy,
        condition,
        settings=settings(database=None, max_examples=1000, phases=[Phase.generate]),
        random=random.Random(0),
    )


# ---------------------------------------------------------------------------- random manifests

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)

#: pattern -> (shortest matching string, longest or None); each also matched by ``sample``.
SAFE_PATTERNS: dict[str, tuple[int, int | None]] = {
    r"^[a-z]+$": (1, None),
    r"^[A-Z]{2,4}$": (2, 4),
    r"\d": (1, None),
    r"^k-": (2, None),
    r"^[a-z0-9_-]{3,16}$": (3, 16),
    r"@": (1, None),
    r"^(dev|prod)$": (3, 4),
}
FORMATS = ("email", "uri", "date-time", "uuid", "ipv4", "hostname")
TYPE_SPELLINGS = {
    "string": ["string", "str", "text"],
    "integer": ["integer", "int"],
    "number": ["number", "float"],
    "boolean": ["boolean", "bool"],
    "array": ["array", "list"],
    "object": ["object", "dict"],
}
NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 2)),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5).map(lambda x: round(x, 1)),
    st.text(max_size=4),
)


@st.composite
def rules(draw: st.DrawFn, schema_dialect: bool = False) -> dict[str, Any]:
    """One key's rules in JSON Schema spelling; always satisfiable."""
    type_ = draw(
        st.sampled_from([None, "string", "integer", "number", "boolean", "array", "object"])
    )
    spec: dict[str, Any] = {} if type_ is None else {"type": type_}
    if type_ in ("integer", "number", None) and draw(st.booleans()):
        low = draw(st.none() | NUMBERS)
        high = None if low is None else low + draw(st.floats(0, 500).map(lambda x: round(x, 2)))
        if high is None or draw(st.booleans()):
            high = draw(st.none() | NUMBERS) if low is None else high
        exclusive = schema_dialect and low is not None and draw(st.booleans())
        if low is not None and high is not None:
            if type_ == "integer":  # keep an integer inside the bounds
                high = max(high, math.floor(low) + 1 if exclusive else math.ceil(low))
            elif exclusive and high == low:
                high = low + 1
        if exclusive:
            spec["exclusiveMinimum"] = low
        elif low is not None:
            spec["minimum"] = low
        if high is not None:
            spec["maximum"] = high
        if draw(st.booleans()):
            lowest = math.floor(low) + 1 if low is not None else -3  # inside either bound kind
            highest = math.floor(high) if high is not None else lowest + 5
            if lowest <= highest:
                members = draw(
                    st.lists(st.integers(lowest, highest), min_size=1, max_size=3, unique=True)
                )
                # Sometimes a member that breaks a rule: it must never be drawn as valid.
                extra = draw(st.sampled_from([[], ["x"], [highest + 50]]))
                spec["enum"] = members + extra
    if type_ in ("string", None):
        choice = draw(st.sampled_from(["plain", "pattern", "format", "enum", "lengths"]))
        if choice == "pattern":
            pattern = draw(st.sampled_from(sorted(SAFE_PATTERNS)))
            spec["pattern"] = pattern
            shortest, longest = SAFE_PATTERNS[pattern]
            length = draw(st.integers(shortest, longest if longest is not None else shortest + 8))
            if draw(st.booleans()):
                spec["minLength"] = draw(st.integers(0, length))
            if draw(st.booleans()):
                spec["maxLength"] = draw(st.integers(length, length + 5))
        elif choice == "format":
            spec["format"] = draw(st.sampled_from(FORMATS))
            if draw(st.booleans()):
                spec["maxLength"] = draw(st.integers(0, 60))
        elif choice == "enum":
            words = ["low", "normal", "high", "dev", "prod", "ab", ""]
            spec["enum"] = draw(
                st.lists(st.sampled_from(words), min_size=1, max_size=4, unique=True)
            )
            if draw(st.booleans()):
                spec["enum"].append(7)  # a member of the wrong type: never drawn as valid
        elif choice == "lengths":
            low = draw(st.integers(0, 6))
            spec["minLength"] = low
            if draw(st.booleans()):
                spec["maxLength"] = low + draw(st.integers(0, 6))
    if type_ == "boolean" and draw(st.booleans()):
        spec["enum"] = draw(st.sampled_from([[True], [False], [True, False]]))
    if draw(st.booleans()):
        # A default that is often valid, sometimes not (real manifests have both).
        spec["default"] = draw(
            st.sampled_from(spec.get("enum", [None]))
            | SCALARS
            | st.sampled_from([[], {}, [1], {"a": 1}])
        )
    return spec


@st.composite
def configuration_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The ``configuration`` dialect: one entry per key, with this harness's spellings."""
    entries = {}
    for key in draw(st.lists(KEYS, min_size=1, max_size=5, unique=True)):
        spec = draw(rules())
        entry: dict[str, Any] = {}
        if "type" in spec:
            entry["type"] = draw(st.sampled_from(TYPE_SPELLINGS[spec["type"]]))
            if spec["type"] == "string" and draw(st.integers(0, 5)) == 0:
                entry["type"] = draw(st.sampled_from(["secret", "password"]))
        for keyword, spellings in (
            ("minimum", ["min", "minimum"]),
            ("maximum", ["max", "maximum"]),
            ("minLength", ["min_length", "minLength"]),
            ("maxLength", ["max_length", "maxLength"]),
        ):
            if keyword in spec:
                entry[draw(st.sampled_from(spellings))] = spec[keyword]
        for keyword in ("enum", "pattern", "format", "default"):
            if keyword in spec:
                entry[keyword] = spec[keyword]
        entry["required"] = draw(st.booleans())
        entry["secret"] = draw(st.booleans())
        entries[key] = entry
    return {"name": "generated", "configuration": entries}


@st.composite
def flat_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The flat ``config`` dialect: key -> default value."""
    values = st.one_of(
        SCALARS,
        st.lists(SCALARS, max_size=3),
        st.dictionaries(st.text(max_size=3), SCALARS, max_size=3),
    )
    config = draw(st.dictionaries(KEYS, values, min_size=1, max_size=5))
    return {"name": "generated", "config": config}


@st.composite
def schema_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """The ``configuration_schema`` dialect, under each of the keys the loader accepts."""
    properties: dict[str, Any] = {}
    for key in draw(st.lists(KEYS, min_size=1, max_size=5, unique=True)):
        spec = draw(rules(schema_dialect=True))
        if "type" in spec and draw(st.integers(0, 3)) == 0:
            spec["type"] = [spec["type"], "null"]
        if "enum" in spec and len(spec["enum"]) == 1 and draw(st.booleans()):
            spec["const"] = spec.pop("enum")[0]
        secret = draw(st.sampled_from([None, "writeOnly", "secret", "x-secret"]))
        if secret:
            spec[secret] = True
        properties[key] = spec
    required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.booleans())
    where = draw(st.sampled_from(["configuration_schema", "config_schema", "configuration"]))
    return {"name": "generated", where: schema}


MANIFESTS = st.one_of(configuration_manifests(), flat_manifests(), schema_manifests())


# ---------------------------------------------------------------------------- configs


def assert_valid_config(manifest: Manifest, config: dict[str, Any]) -> None:
    assert set(config) <= set(manifest.configuration)
    for key, option in manifest.configuration.items():
        if key in config:
            assert check_value(option, config[key]) is None, (key, config[key])
        else:
            assert not option.required, f"required key {key!r} is missing from {config!r}"
    schema = to_json_schema(manifest)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(config)]
    assert not errors, (config, errors)
    json.dumps(config, allow_nan=False)


@PROPERTIES
@given(data=st.data(), raw=MANIFESTS)
def test_every_drawn_config_is_valid_for_the_harness_and_the_json_schema(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    manifest = build(raw)
    schema = to_json_schema(raw)
    Draft202012Validator.check_schema(schema)
    assert schema == to_json_schema(manifest)
    if manifest.config_dialect == "configuration_schema":
        embedded = manifest.config_schema or {}
        assert schema["additionalProperties"] == embedded.get("additionalProperties", True)
    else:
        assert schema["additionalProperties"] is True
    strategy = configs(raw)
    for _ in range(3):
        assert_valid_config(manifest, data.draw(strategy))


@PROPERTIES
@given(data=st.data(), raw=MANIFESTS)
def test_every_invalid_config_breaks_exactly_its_tagged_rule(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    manifest = build(raw)
    options = manifest.configuration
    # A required key, or a type outside an enum, can always be broken.
    breakable = [k for k, o in options.items() if o.required or (o.type and o.enum is None)]
    try:
        strategy = invalid_configs(raw)
    except InvalidArgument as exc:
        refused: InvalidArgument | None = exc
    else:
        refused = None
    if refused is not None:
        assert not breakable, refused
        assert "declares no configuration rule a value can break" in str(refused)
        return
    validator = Draft202012Validator(to_json_schema(raw))
    for _ in range(3):
        drawn = data.draw(strategy)
        assert isinstance(drawn, InvalidConfig)
        config, violation = drawn.config, drawn.violation
        key, rule = violation.key, violation.rule
        json.dumps(config, allow_nan=False)
        # jsonschema agrees, and finds exactly one error, on that key, for that rule.
        errors = list(validator.iter_errors(config))
        assert len(errors) == 1, (drawn, [e.message for e in errors])
        assert errors[0].validator in RULE_KEYWORDS[rule], (drawn, errors[0].message)
        if rule == "required":
            assert key not in config
            assert violation.message == "required: the key is missing"
        else:
            assert list(errors[0].path) == [key]
            message = check_value(options[key], config[key])
            assert message is not None
            assert message.startswith(f"{rule}:")
            assert violation.message == message
            field = {"min": "minimum", "max": "maximum"}.get(rule, rule)
            relaxed = ConfigOption(**{**_fields(options[key]), field: None})
            assert check_value(relaxed, config[key]) is None, f"{drawn} breaks more than {rule}"
        assert str(violation) == f"{key}: {violation.message}"
        for other, option in options.items():
            if other == key:
                continue
            if other in config:
                assert check_value(option, config[other]) is None
            else:
                assert not option.required


def _fields(option: ConfigOption) -> dict[str, Any]:
    return {name: getattr(option, name) for name in option.__dataclass_fields__}


def test_the_json_schema_of_the_example_plugin() -> None:
    assert to_json_schema(MY_MANIFEST) == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "my_awesome_plugin configuration",
        "type": "object",
        "properties": {
            "api_key": {
                "type": "string",
                "description": "API key for external service",
                "writeOnly": True,
            },
            "max_retries": {
                "type": "integer",
                "description": "Maximum number of retry attempts",
                "default": 3,
                "minimum": 1,
                "maximum": 10,
            },
            "timeout": {
                "type": "number",
                "description": "Time-out of calls to the external service, in seconds",
                "default": 30,
                "minimum": 1,
                "maximum": 300,
            },
            "enabled": {
                "type": "boolean",
                "description": "Enable or disable the plugin",
                "default": True,
            },
        },
        "required": ["api_key"],
        "additionalProperties": True,
    }
    raw = json.loads((MY_PLUGIN / "manifest.json").read_text())
    assert to_json_schema(raw) == to_json_schema(MY_MANIFEST)


def test_flat_config_and_embedded_schema_dialects() -> None:
    flat = to_json_schema(
        {"name": "p", "config": {"n": 3, "ratio": 0.5, "tags": ["a"], "extra": None}}
    )
    assert flat["properties"] == {
        "n": {"type": "integer", "default": 3},
        "ratio": {"type": "number", "default": 0.5},
        "tags": {"type": "array", "default": ["a"]},
        "extra": {"default": None},
    }
    assert flat["required"] == []
    embedded = to_json_schema(
        {
            "name": "p",
            "config_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "properties": {"token": {"type": "str", "x-secret": True, "minLength": 8}},
                "required": ["token"],
            },
        }
    )
    assert embedded == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "token": {"type": "string", "x-secret": True, "minLength": 8, "writeOnly": True}
        },
        "required": ["token"],
        "additionalProperties": True,
    }


def test_an_embedded_schema_may_require_a_name_it_does_not_declare() -> None:
    raw = {
        "name": "p",
        "configuration_schema": {
            "properties": {"a": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": {"type": "string"},
        },
    }
    validator = Draft202012Validator(to_json_schema(raw))
    for config in draws(configs(raw), 20):
        validator.validate(config)
        assert isinstance(config["b"], str)


def test_every_example_plugin_manifest_gives_valid_configs() -> None:
    for plugin in sorted(EXAMPLES.iterdir()):
        manifest = load_manifest(plugin)
        for config in draws(configs(manifest), 40):
            assert_valid_config(manifest, config)


# ---------------------------------------------------------------------------- boundaries

BOUNDED = {
    "name": "bounded",
    "configuration": {
        "retries": {"type": "integer", "min": 0.5, "max": 9.5, "default": 3},
        "ratio": {"type": "number", "min": -2.5, "max": 7.25},
        "mode": {"type": "string", "enum": ["fast", "safe", "off"], "default": "safe"},
        "label": {"type": "string"},
        "token": {"type": "string", "min_length": 4, "max_length": 8},
        "flag": {"type": "boolean", "required": True},
    },
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retries", 1),  # ceil of a non-integer minimum
        ("retries", 9),  # floor of a non-integer maximum
        ("retries", 3),  # the default
        ("ratio", -2.5),
        ("ratio", 7.25),
        ("mode", "fast"),
        ("mode", "safe"),
        ("mode", "off"),
        ("label", ""),
        ("token", "aaaa"),
        ("token", "aaaaaaaa"),
        ("flag", True),
        ("flag", False),
    ],
)
def test_boundaries_defaults_and_enum_members_are_drawn(key: str, value: Any) -> None:
    config = found(
        configs(BOUNDED), lambda c: key in c and c[key] == value and type(c[key]) is type(value)
    )
    assert config[key] == value


def test_every_rule_of_the_example_plugin_is_broken_by_some_draw() -> None:
    expected = {
        ("api_key", "required"),
        ("api_key", "type"),
        ("max_retries", "type"),
        ("max_retries", "min"),
        ("max_retries", "max"),
        ("timeout", "type"),
        ("timeout", "min"),
        ("timeout", "max"),
        ("enabled", "type"),
    }
    strategy = invalid_configs(MY_MANIFEST)
    for key, rule in sorted(expected):
        drawn = found(
            strategy, lambda ic, k=key, r=rule: (ic.violation.key, ic.violation.rule) == (k, r)
        )
        assert drawn.violation.key == key
    above = found(
        strategy, lambda ic: ic.violation.rule == "max" and ic.violation.key == "max_retries"
    )
    assert re.fullmatch(r"max_retries: max: \d+ is above the maximum 10", str(above.violation))


def test_enum_pattern_and_length_rules_are_broken_alone() -> None:
    manifest = {
        "name": "p",
        "configuration": {
            "level": {"type": "string", "enum": ["low", "high"]},
            "code": {"type": "string", "pattern": "^[A-Z]{2,4}$", "min_length": 3},
            "token": {"type": "string", "min_length": 16, "max_length": 32},
        },
    }
    strategy = invalid_configs(manifest)
    for key, rule in [
        ("level", "enum"),
        ("code", "pattern"),
        ("code", "min_length"),
        ("token", "min_length"),
        ("token", "max_length"),
    ]:
        drawn = found(
            strategy, lambda ic, k=key, r=rule: (ic.violation.key, ic.violation.rule) == (k, r)
        )
        assert drawn.violation.message.startswith(f"{rule}:")


# ---------------------------------------------------------------------------- formats and overrides

FORMAT_CHECKS: dict[str, Callable[[str], object]] = {
    "email": lambda v: re.fullmatch(r"[^@\s]+@[a-z0-9.-]+\.[a-z]{2,}", v),
    "uri": lambda v: urlsplit(v).scheme in ("http", "https") and urlsplit(v).netloc,
    "date-time": lambda v: datetime.fromisoformat(v).tzinfo is not None,
    "uuid": lambda v: uuid.UUID(v),
    "ipv4": lambda v: ipaddress.IPv4Address(v),
    "hostname": lambda v: re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", v),
}


def test_formats_give_realistic_values() -> None:
    manifest = {
        "name": "p",
        "configuration": {
            fmt: {"type": "string", "format": fmt, "required": True} for fmt in FORMATS
        },
    }
    validator = Draft202012Validator(to_json_schema(manifest), format_checker=FORMAT_CHECKER)
    for config in draws(configs(manifest), 25):
        validator.validate(config)
        for fmt, check in FORMAT_CHECKS.items():
            assert check(config[fmt]), (fmt, config[fmt])


def test_draws_are_reproducible_from_the_seed() -> None:
    strategy = configs(
        {
            "name": "p",
            "configuration": {"email": {"type": "string", "format": "email", "required": True}},
        }
    )

    def run() -> list[Any]:
        values: list[Any] = []

        @seed(1234)
        @settings(max_examples=15, database=None, phases=[Phase.generate])
        @given(strategy)
        def collect(config: dict[str, Any]) -> None:
            values.append(config)

        collect()
        return values

    assert run() == run()


def test_overrides_replace_a_key_and_are_always_present() -> None:
    for config in draws(configs(MY_MANIFEST, api_key=st.just("k-123"), max_retries=7), 20):
        assert config["api_key"] == "k-123"
        assert config["max_retries"] == 7
        assert_valid_config(MY_MANIFEST, config)
    # A strategy is used as given, even one the manifest would refuse.
    assert {c["max_retries"] for c in draws(configs(MY_MANIFEST, max_retries=st.just(0)), 5)} == {0}


def test_invalid_configs_overrides_keep_the_valid_keys_as_given() -> None:
    strategy = invalid_configs(MY_MANIFEST, api_key="k-123")
    for drawn in draws(strategy, 40):
        if drawn.violation.key != "api_key":
            assert drawn.config["api_key"] == "k-123"
    # The overridden key's own rules are still broken.
    assert found(
        strategy, lambda ic: ic.violation.key == "api_key" and ic.violation.rule == "required"
    )
    assert found(strategy, lambda ic: ic.violation.key == "api_key" and ic.violation.rule == "type")


# ---------------------------------------------------------------------------- event payloads


@st.composite
def leaf_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "string",
                "integer",
                "number",
                "boolean",
                "null",
                "enum",
                "const",
                "format",
                "pattern",
                "any",
            ]
        )
    )
    if kind == "string":
        low = draw(st.integers(0, 5))
        return {"type": "string", "minLength": low, "maxLength": low + draw(st.integers(0, 5))}
    if kind == "integer":
        low = draw(st.integers(-50, 50))
        return {
            "type": "integer",
            "exclusiveMinimum": low,
            "maximum": low + draw(st.integers(1, 20)),
        }
    if kind == "number":
        low = draw(NUMBERS)
        return {
            "type": "number",
            "minimum": low,
            "exclusiveMaximum": low + draw(st.floats(0.5, 100)),
        }
    if kind == "enum":
        return {"enum": draw(st.lists(SCALARS, min_size=1, max_size=4))}
    if kind == "const":
        return {"const": draw(SCALARS)}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMATS))}
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(sorted(SAFE_PATTERNS)))}
    if kind == "any":
        return {}
    return {"type": kind}


def _arrays(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    plain = st.builds(
        lambda items, low, extra: {
            "type": "array",
            "items": items,
            "minItems": low,
            "maxItems": low + extra,
        },
        inner,
        st.integers(0, 2),
        st.integers(0, 3),
    )
    unique = st.builds(
        lambda t: {"type": "array", "items": {"type": t}, "uniqueItems": True, "minItems": 2},
        st.sampled_from(["string", "integer"]),
    )
    return plain | unique


@st.composite
def _objects(draw: st.DrawFn, inner: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(KEYS, inner, max_size=4))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = (
        draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    )
    extra = draw(st.sampled_from(["absent", True, False, "schema"]))
    if extra == "schema":
        schema["additionalProperties"] = {"type": "integer"}
    elif extra != "absent":
        schema["additionalProperties"] = extra
    return schema


def _containers(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return _arrays(inner) | _objects(inner)


EVENT_SCHEMAS = st.recursive(leaf_schemas(), _containers, max_leaves=6).flatmap(
    lambda s: _objects(st.just(s)) if s.get("type") != "object" else st.just(s)
)


@PROPERTIES
@given(data=st.data(), schema=EVENT_SCHEMAS)
def test_event_payloads_follow_their_schema(data: st.DataObject, schema: dict[str, Any]) -> None:
    manifest = {
        "name": "p",
        "events": {"subscribes": ["thing.happened"], "schemas": {"thing.happened": schema}},
    }
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    strategy = event_payloads(manifest, "thing.happened")
    for _ in range(3):
        payload = data.draw(strategy)
        assert isinstance(payload, dict)
        json.dumps(payload, allow_nan=False)
        errors = [e.message for e in validator.iter_errors(payload)]
        assert not errors, (payload, errors)


def test_payloads_of_an_event_without_a_schema_are_any_json_object() -> None:
    payloads = draws(event_payloads(MY_MANIFEST, "user.created"), 40)
    assert all(isinstance(p, dict) for p in payloads)
    assert {} in payloads
    for payload in payloads:
        json.dumps(payload, allow_nan=False)
    assert found(event_payloads(MY_MANIFEST, "user.created"), lambda p: len(p) >= 2)


# ---------------------------------------------------------------------------- request bodies


def openapi_validator(document: dict[str, Any], method: str, path: str) -> Any:
    """A validator of the JSON body of ``method path``, its $refs resolved in the document."""
    operation = document["paths"][path][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document.get("components", {})})


@needs_platform
@pytest.mark.asyncio
async def test_request_bodies_through_the_example_plugin() -> None:
    async with PluginHost(MY_PLUGIN, config={"api_key": "k"}) as host:
        assert host.app is not None
        document = host.app.openapi()
        full = "/api/plugins/my_awesome_plugin/action"
        validator = openapi_validator(document, "POST", full)
        for valid in (True, False):
            for path in (full, "/action"):
                for body in draws(request_bodies(host.app, "POST", path, valid=valid), 20):
                    json.dumps(body, allow_nan=False)
                    assert validator.is_valid(body) is valid, body
                    response = await host.client.post("/action", json=body)
                    assert (response.status_code == 422) is not valid, (body, response.text)


class Owner(BaseModel):
    id: int
    email: str | None = None


class TaskBody(BaseModel):
    """Nested, optional (anyOf with null), recursive, extra keys forbidden."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=50)
    priority: int | None = Field(default=None, ge=1, le=5)
    tags: list[str] = []
    owner: Owner | None = None
    subtasks: list[TaskBody] = []


def _tasks_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/api/plugins/tasks/tasks")
    async def create(task: TaskBody) -> dict[str, str]:
        return {"title": task.title}

    @app.post("/api/plugins/tasks/webhook/tasks")
    async def hook(task: TaskBody) -> dict[str, str]:
        return {"title": task.title}

    @app.get("/api/plugins/tasks/status")
    async def status() -> dict[str, str]:
        return {}

    return app


@pytest.mark.asyncio
async def test_request_bodies_of_nested_optional_and_recursive_models() -> None:
    import httpx

    app = _tasks_app()
    document = app.openapi()
    validator = openapi_validator(document, "POST", "/api/plugins/tasks/tasks")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for valid in (True, False):
            # "/tasks" is the plugin's own /tasks, not the end of /webhook/tasks.
            for body in draws(request_bodies(document, "POST", "/tasks", valid=valid), 25):
                assert validator.is_valid(body) is valid, body
                response = await client.post("/api/plugins/tasks/tasks", json=body)
                assert (response.status_code == 422) is not valid, (body, response.text)


# ---------------------------------------------------------------------------- argument errors

SCHEMA_EVENT = {"name": "p", "events": {"publishes": ["e"], "schemas": {"e": {}}}}


def _with_event_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {**SCHEMA_EVENT, "events": {**SCHEMA_EVENT["events"], "schemas": {"e": schema}}}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: configs(42),
            "manifest must be a Manifest (from nexus_testkit.load_manifest) or a dict parsed from manifest.json, got manifest=42",
        ),
        (
            lambda: configs({"name": ""}),
            "manifest={'name': ''} is not a valid manifest: name: expected a non-empty string, got an empty one",
        ),
        (
            lambda: to_json_schema({"configuration": {}}),
            "manifest={'configuration': {}} is not a valid manifest: name: missing",
        ),
        (
            lambda: configs(MY_MANIFEST, api_kye="k"),
            "api_kye='k' is not a configuration key of manifest 'my_awesome_plugin' (",
        ),
        (
            lambda: configs(MY_MANIFEST, max_retries=11),
            "max_retries=11 breaks a rule of manifest 'my_awesome_plugin' (",
        ),
        (
            lambda: configs(
                {"name": "p", "configuration": {"n": {"type": "integer", "min": 1.2, "max": 1.8}}}
            ),
            "manifest 'p': no value of 'n' satisfies its rules (configuration.n: no integer lies between its bounds)",
        ),
        (
            lambda: configs(
                {
                    "name": "p",
                    "configuration_schema": {"properties": {"n": {"oneOf": [{"type": "integer"}]}}},
                }
            ),
            "manifest 'p': configuration_schema.properties.n uses 'oneOf', which configs() does not support",
        ),
        (
            lambda: invalid_configs(MY_MANIFEST, api_kye="k"),
            "api_kye='k' is not a configuration key of manifest 'my_awesome_plugin' (",
        ),
        (
            lambda: invalid_configs({"name": "p"}),
            "manifest 'p' declares no configuration rule a value can break (keys: none)",
        ),
        (
            lambda: invalid_configs({"name": "p", "config": {"anything": None}}),
            "manifest 'p' declares no configuration rule a value can break (keys: anything)",
        ),
        (
            lambda: event_payloads(MY_MANIFEST, "x.y"),
            "event_name='x.y' is not declared in the manifest; declared events: my_awesome_plugin.initialized, my_awesome_plugin.action_completed, my_awesome_plugin.shutdown, user.created, system.maintenance",
        ),
        (
            lambda: event_payloads({"name": "p"}, "e"),
            "event_name='e' is not declared in the manifest; manifest 'p' declares no events",
        ),
        (lambda: event_payloads(MY_MANIFEST, 5), "event_name must be a string, got event_name=5"),
        (
            lambda: event_payloads(_with_event_schema({"type": "string"}), "e"),
            "event_name='e': events.schemas.e.type is 'string'; event payloads are JSON objects",
        ),
        (
            lambda: event_payloads(
                _with_event_schema(
                    {
                        "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 2}},
                        "required": ["n"],
                    }
                ),
                "e",
            ),
            "event_name='e': no payload satisfies events.schemas.e (events.schemas.e.properties.n: no integer lies between its bounds)",
        ),
        (
            lambda: event_payloads(_with_event_schema({"properties": {"n": {"type": "str"}}}), "e"),
            "event_name='e': events.schemas.e.properties.n.type has unknown type 'str'",
        ),
        (
            lambda: request_bodies(_tasks_app(), "FETCH", "/tasks"),
            "method must be an HTTP method like 'POST', got method='FETCH'",
        ),
        (
            lambda: request_bodies(_tasks_app(), "POST", "/nope"),
            "path='/nope' is not a path of the app (full, or the end of one); known operations:\n- POST /api/plugins/tasks/tasks\n- POST /api/plugins/tasks/webhook/tasks\n- GET /api/plugins/tasks/status",
        ),
        (
            lambda: request_bodies(_tasks_app(), "PUT", "/tasks"),
            "method='PUT': the app has no PUT /api/plugins/tasks/tasks; known operations:\n- POST",
        ),
        (
            lambda: request_bodies(_tasks_app(), "GET", "/status"),
            "GET /api/plugins/tasks/status takes no JSON body (no request body)",
        ),
        (
            lambda: request_bodies(_tasks_app(), "POST", "/tasks", valid="no"),
            "valid must be True or False, got valid='no'",
        ),
        (
            lambda: request_bodies(42, "POST", "/tasks"),
            "app must be a FastAPI app, a started PluginHost or an OpenAPI document, got app=42",
        ),
        (
            lambda: request_bodies(
                {
                    "paths": {
                        "/x": {
                            "post": {
                                "requestBody": {"content": {"application/json": {"schema": {}}}}
                            }
                        }
                    }
                },
                "POST",
                "/x",
                valid=False,
            ),
            "POST /x: the body schema accepts any JSON value, so there is no invalid body to draw (valid=False)",
        ),
    ],
)
def test_bad_arguments_are_refused_when_the_strategy_is_built(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    "keyword",
    [
        "$ref",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "patternProperties",
        "multipleOf",
        "prefixItems",
    ],
)
def test_unsupported_event_schema_keywords_are_named(keyword: str) -> None:
    schema = {"type": "object", "properties": {"n": {keyword: {}}}}
    with pytest.raises(
        InvalidArgument,
        match=f"events.schemas.e.properties.n uses '{re.escape(keyword)}', which event_payloads\\(\\) does not support; supported keywords: type, enum, const",
    ):
        event_payloads(_with_event_schema(schema), "e")


def test_an_unsupported_key_can_be_overridden() -> None:
    manifest = {
        "name": "p",
        "configuration_schema": {
            "properties": {"n": {"anyOf": [{"type": "integer"}]}, "m": {"type": "boolean"}}
        },
    }
    with pytest.raises(
        InvalidArgument, match=r"or pass a value for it: configs\(manifest, n=...\)"
    ):
        configs(manifest)
    assert {c["n"] for c in draws(configs(manifest, n=st.just(1)), 5)} == {1}


# ---------------------------------------------------------------------------- the module


def test_public_names() -> None:
    assert strategies.__all__ == [
        "BrokenRule",
        "InvalidConfig",
        "configs",
        "event_payloads",
        "invalid_configs",
        "request_bodies",
        "to_json_schema",
    ]
    assert (
        BrokenRule("k", "max", "max: 2 is above the maximum 1").__str__()
        == "k: max: 2 is above the maximum 1"
    )


def test_importing_the_strategies_does_not_import_pytest() -> None:
    code = "import sys, nexus_testkit.strategies; sys.exit('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------------------- simple patterns

#: Pieces of the anchored patterns manifests use, each with what it matches.
_PATTERN_ATOMS = st.sampled_from(
    [
        r"a",
        r"\.",
        r"-",
        r"[a-z]",
        r"[A-Z0-9_]",
        r"[a-z0-9_-]",
        r"\d",
        r"\w",
        r"\s",
        r".",
        r"[^abc]",
        r"[^a-z]",
    ]
)


@st.composite
def _simple_patterns(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["atom", "atom", "group"] if depth < 2 else ["atom"]))
        if kind == "atom":
            part = draw(_PATTERN_ATOMS)
        else:
            branches = draw(st.lists(_simple_patterns(depth + 1), min_size=1, max_size=3))
            part = "(" + "|".join(branches) + ")"
        # Repeated groups only as "?" or "{2}": a repeat of a repeat can make
        # re.search itself backtrack for ever, which is the pattern's fault.
        quantifiers = ["", "", "*", "+", "?", "{2}", "{1,3}", "{0,2}", "+?"]
        if kind == "group":
            quantifiers = ["", "?", "{2}"]
        parts.append(part + draw(st.sampled_from(quantifiers)))
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(body=_simple_patterns(), data=st.data())
def test_simple_patterns_are_drawn_directly_and_always_match(
    body: str, data: st.DataObject
) -> None:
    from nexus_testkit.strategies._regex import unchecked_strings

    pattern = f"^{body}$"
    strategy = unchecked_strings(pattern)
    assert strategy is not None, pattern
    value = data.draw(strategy)
    assert re.search(pattern, value), (pattern, value)


@pytest.mark.parametrize(
    "pattern", [r"\d", r"^a", r"a$", r"(?i)^a$", r"^a(?=b)b$", r"^(a)\1$", r"^[^\d]$", r"^a|b$"]
)
def test_other_patterns_are_left_to_from_regex(pattern: str) -> None:
    from nexus_testkit.strategies._regex import simple_pattern_strings

    assert simple_pattern_strings(pattern) is None


def test_a_length_rule_longer_than_a_simple_pattern_repeat_still_draws() -> None:
    manifest = {
        "name": "p",
        "configuration": {
            "slug": {"type": "string", "pattern": "^[a-z]+$", "min_length": 12, "required": True}
        },
    }
    for config in draws(configs(manifest), 20):
        assert len(config["slug"]) >= 12
        assert config["slug"].isalpha()


def test_possessive_repeats_are_left_to_from_regex() -> None:
    from nexus_testkit.strategies._regex import simple_pattern_strings

    assert simple_pattern_strings(r"^[a-z]*+[a-z]$") is None
