"""Unit tests of nexus_testkit.manifest._load: every dialect and every error path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nexus_testkit import (
    MISSING,
    ConfigOption,
    Endpoint,
    EventSpec,
    Manifest,
    ManifestError,
    NexusTestkitError,
    load_manifest,
)
from nexus_testkit.manifest._load import MAX_MANIFEST_BYTES, manifest_path_of

DATA = Path(__file__).parent / "data" / "manifests"


def write(tmp_path: Path, content: Any, name: str = "manifest.json") -> Path:
    """Write ``content`` (bytes, text, or a JSON-able object) and return the file."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


def load_error(path: Path | str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return info.value


def manifest_error(tmp_path: Path, content: Any) -> ManifestError:
    return load_error(write(tmp_path, content))


# --------------------------------------------------------------------------- dialect: configuration


class TestConfigurationDialect:
    @pytest.fixture
    def manifest(self) -> Manifest:
        return load_manifest(DATA / "configuration.json")

    def test_metadata(self, manifest: Manifest) -> None:
        assert manifest.name == "weather_alerts"
        assert manifest.version == "1.2.0"
        assert manifest.title == "Weather Alerts"  # display_name stands in for title
        assert manifest.description == "Publishes alerts when the forecast turns bad"
        assert manifest.author == "Nexus Tests"
        assert manifest.category == "integration"
        assert manifest.permissions == ("database.read", "events.publish")
        assert manifest.path == DATA / "configuration.json"
        assert manifest.directory == DATA
        assert manifest.config_dialect == "configuration"
        assert manifest.config_schema is None

    def test_raw_is_the_parsed_json(self, manifest: Manifest) -> None:
        raw = json.loads((DATA / "configuration.json").read_text(encoding="utf-8"))
        assert manifest.raw == raw

    def test_keys_keep_file_order(self, manifest: Manifest) -> None:
        assert list(manifest.configuration) == [
            "api_key",
            "password",
            "token",
            "max_retries",
            "timeout",
            "enabled",
            "units",
            "station",
            "tags",
            "extra",
            "contact",
            "nickname",
            "untyped",
        ]

    @pytest.mark.parametrize(
        ("key", "expected_type"),
        [
            ("api_key", "string"),  # "secret"
            ("password", "string"),  # "password"
            ("token", "string"),  # "str"
            ("max_retries", "integer"),  # "int"
            ("timeout", "number"),  # "float"
            ("enabled", "boolean"),  # "bool"
            ("units", "string"),  # "text"
            ("tags", "array"),  # "list"
            ("extra", "object"),  # "dict"
            ("contact", "string"),  # "String": case-insensitive
            ("nickname", "string"),  # ["string", "null"]: the non-null member
            ("untyped", None),
        ],
    )
    def test_type_aliases(self, manifest: Manifest, key: str, expected_type: str | None) -> None:
        assert manifest.configuration[key].type == expected_type

    def test_secret_from_type_and_flag(self, manifest: Manifest) -> None:
        conf = manifest.configuration
        assert conf["api_key"].secret is True
        assert conf["password"].secret is True
        assert conf["token"].secret is True
        assert conf["max_retries"].secret is False
        assert manifest.secret_keys == ("api_key", "password", "token")

    def test_required(self, manifest: Manifest) -> None:
        assert manifest.required_keys == ("api_key", "token", "station")
        assert manifest.configuration["max_retries"].required is False

    def test_min_max_and_minimum_maximum(self, manifest: Manifest) -> None:
        retries = manifest.configuration["max_retries"]
        assert (retries.minimum, retries.maximum) == (1, 10)
        timeout = manifest.configuration["timeout"]
        assert (timeout.minimum, timeout.maximum) == (0.5, 300)
        assert manifest.configuration["enabled"].minimum is None

    def test_enum_pattern_format_lengths(self, manifest: Manifest) -> None:
        conf = manifest.configuration
        assert conf["units"].enum == ("metric", "imperial")
        assert conf["station"].pattern == "^[A-Z]{4}$"
        assert conf["contact"].format == "email"
        assert (conf["contact"].min_length, conf["contact"].max_length) == (5, 64)
        assert (conf["nickname"].min_length, conf["nickname"].max_length) == (2, 8)
        assert conf["api_key"].description == "Provider key"

    def test_defaults(self, manifest: Manifest) -> None:
        conf = manifest.configuration
        assert conf["api_key"].default is MISSING
        assert not conf["api_key"].has_default
        # null is a legitimate default, not "no default".
        assert conf["untyped"].default is None
        assert conf["untyped"].has_default
        assert manifest.defaults() == {
            "max_retries": 3,
            "timeout": 30,
            "enabled": True,
            "units": "metric",
            "tags": [],
            "untyped": None,
        }

    def test_schema_is_none_for_plain_options(self, manifest: Manifest) -> None:
        assert manifest.configuration["max_retries"].schema is None

    def test_dependencies_list_of_names_and_objects(self, manifest: Manifest) -> None:
        assert manifest.dependencies == ("geo_lookup", "notifier")

    def test_events(self, manifest: Manifest) -> None:
        events = manifest.events
        assert isinstance(events, EventSpec)
        assert events.publishes == ("weather_alerts.alert", "weather_alerts.cleared")
        assert events.subscribes == ("geo.location_changed",)
        assert events.declared
        assert events.schemas["weather_alerts.alert"]["required"] == ["level"]
        assert set(events.schemas) == {"weather_alerts.alert"}

    def test_api_endpoints(self, manifest: Manifest) -> None:
        assert manifest.api_endpoints == (
            Endpoint("GET", "/alerts", "List alerts"),  # method upper-cased
            Endpoint("GET", "/status", ""),  # method defaults to GET
            Endpoint("POST", "/alerts/test", ""),
        )


def test_load_from_plugin_directory(tmp_path: Path) -> None:
    write(tmp_path, {"name": "dir_plugin"})
    manifest = load_manifest(tmp_path)
    assert manifest.name == "dir_plugin"
    assert manifest.path == tmp_path / "manifest.json"
    assert manifest.directory == tmp_path


def test_load_accepts_str_path(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "str_path"})
    assert load_manifest(str(path)).name == "str_path"


def test_manifest_path_of(tmp_path: Path) -> None:
    file = write(tmp_path, {"name": "x"})
    assert manifest_path_of(tmp_path) == file
    assert manifest_path_of(file) == file
    assert manifest_path_of(tmp_path / "other.json") == tmp_path / "other.json"


def test_minimal_manifest() -> None:
    manifest = load_manifest(DATA / "minimal.json")
    assert manifest.name == "minimal"
    assert manifest.version is None
    assert manifest.category is None
    assert manifest.title is None
    assert manifest.description == ""
    assert manifest.author is None
    assert manifest.permissions == ()
    assert manifest.dependencies == ()
    assert manifest.configuration == {}
    assert manifest.config_dialect == "none"
    assert manifest.config_schema is None
    assert manifest.events == EventSpec()
    assert not manifest.events.declared
    assert manifest.api_endpoints == ()
    assert manifest.defaults() == {}
    assert manifest.secret_keys == ()
    assert manifest.required_keys == ()


def test_title_wins_over_display_name(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, {"name": "x", "title": "T", "display_name": "D"}))
    assert manifest.title == "T"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"name": "bom", "description": "caf\xc3\xa9"}')
    manifest = load_manifest(path)
    assert manifest.name == "bom"
    assert manifest.description == "caf\u00e9"


def test_null_optional_fields_are_absent(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(
            tmp_path,
            {
                "name": "x",
                "version": None,
                "author": None,
                "dependencies": None,
                "events": None,
                "api_endpoints": None,
            },
        )
    )
    assert manifest.version is None
    assert manifest.author is None
    assert manifest.dependencies == ()
    assert manifest.events == EventSpec()
    assert manifest.api_endpoints == ()


def test_events_only_subscribes(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, {"name": "x", "events": {"subscribes": ["a.b"]}}))
    assert manifest.events.publishes == ()
    assert manifest.events.subscribes == ("a.b",)
    assert manifest.events.declared
    assert manifest.events.schemas == {}


def test_configuration_type_list_of_only_null(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(tmp_path, {"name": "x", "configuration": {"k": {"type": ["null"]}}})
    )
    assert manifest.configuration["k"].type == "null"


def test_configuration_type_null_is_a_json_type(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(tmp_path, {"name": "x", "configuration": {"k": {"type": "null"}}})
    )
    assert manifest.configuration["k"].type == "null"


def test_empty_configuration_object(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, {"name": "x", "configuration": {}}))
    assert manifest.config_dialect == "configuration"
    assert manifest.configuration == {}


# --------------------------------------------------------------------------- dialect: flat config


class TestFlatConfigDialect:
    @pytest.fixture
    def manifest(self) -> Manifest:
        return load_manifest(DATA / "flat_config.json")

    def test_dialect(self, manifest: Manifest) -> None:
        assert manifest.config_dialect == "config"
        assert manifest.config_schema is None
        assert manifest.title == "Flat Plugin"

    @pytest.mark.parametrize(
        ("key", "expected_type", "default"),
        [
            ("retries", "integer", 3),
            ("ratio", "number", 0.25),
            ("greeting", "string", "hello"),
            ("verbose", "boolean", False),
            ("hosts", "array", ["a.example", "b.example"]),
            ("limits", "object", {"per_minute": 60}),
            ("proxy", None, None),
        ],
    )
    def test_inferred_types_and_defaults(
        self, manifest: Manifest, key: str, expected_type: str | None, default: Any
    ) -> None:
        option = manifest.configuration[key]
        assert option.type == expected_type
        assert option.default == default
        assert type(option.default) is type(default)
        assert option.has_default
        assert option.required is False
        assert option.secret is False

    def test_defaults_are_every_key(self, manifest: Manifest) -> None:
        assert manifest.defaults() == manifest.raw["config"]
        assert manifest.required_keys == ()

    def test_dependencies_map(self, manifest: Manifest) -> None:
        # {"plugins": [...]} groups names; {"name": ">=1.0"} maps a name to a version.
        assert manifest.dependencies == ("auth", "storage", "metrics")


def test_bool_default_is_boolean_not_integer(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, {"name": "x", "config": {"flag": True}}))
    assert manifest.configuration["flag"].type == "boolean"


# --------------------------------------------------------------------------- dialect: JSON Schema


class TestConfigurationSchemaDialect:
    @pytest.fixture
    def manifest(self) -> Manifest:
        return load_manifest(DATA / "configuration_schema.json")

    def test_dialect_and_schema(self, manifest: Manifest) -> None:
        assert manifest.config_dialect == "configuration_schema"
        assert manifest.config_schema == manifest.raw["configuration_schema"]
        assert list(manifest.configuration) == [
            "endpoint",
            "api_token",
            "client_secret",
            "mode",
            "level",
            "ratio",
            "region",
        ]

    def test_required_from_schema_list(self, manifest: Manifest) -> None:
        assert manifest.required_keys == ("endpoint", "api_token", "level")
        assert manifest.configuration["region"].required is False

    def test_secret_from_write_only_and_x_secret(self, manifest: Manifest) -> None:
        assert manifest.secret_keys == ("api_token", "client_secret")

    def test_property_details(self, manifest: Manifest) -> None:
        conf = manifest.configuration
        assert conf["endpoint"].type == "string"
        assert conf["endpoint"].format == "uri"
        assert conf["endpoint"].description == "Service URL"
        assert conf["api_token"].min_length == 12
        assert conf["mode"].enum == ("strict",)  # const becomes a one-member enum
        assert conf["mode"].type is None
        assert (conf["level"].minimum, conf["level"].maximum) == (1, 5)
        assert conf["level"].default == 2
        assert conf["ratio"].type == "number"
        assert conf["ratio"].maximum == 1
        assert conf["region"].enum == ("eu", "us")
        assert conf["region"].pattern == "^[a-z]+$"

    def test_property_schema_kept(self, manifest: Manifest) -> None:
        level = manifest.configuration["level"]
        assert level.schema == {"type": "integer", "minimum": 1, "maximum": 5, "default": 2}

    def test_defaults(self, manifest: Manifest) -> None:
        assert manifest.defaults() == {"level": 2}


def test_config_schema_alias() -> None:
    manifest = load_manifest(DATA / "config_schema.json")
    assert manifest.config_dialect == "configuration_schema"
    assert manifest.config_schema == manifest.raw["config_schema"]
    assert manifest.configuration["limit"].default == 10
    assert manifest.configuration["limit"].type == "integer"
    assert manifest.required_keys == ("secret_word",)
    assert manifest.secret_keys == ("secret_word",)


def test_configuration_holding_a_json_schema() -> None:
    manifest = load_manifest(DATA / "configuration_json_schema.json")
    assert manifest.config_dialect == "configuration_schema"
    assert manifest.config_schema == manifest.raw["configuration"]
    assert list(manifest.configuration) == ["webhook", "batch"]
    assert manifest.configuration["webhook"].format == "url"
    assert manifest.configuration["webhook"].required is True
    assert manifest.configuration["batch"].minimum == 10
    assert manifest.defaults() == {"batch": 50}


def test_schema_dialect_wins_over_configuration(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(
            tmp_path,
            {
                "name": "x",
                "configuration": {"a": {"type": "string"}},
                "configuration_schema": {"properties": {"b": {"type": "integer"}}},
            },
        )
    )
    assert manifest.config_dialect == "configuration_schema"
    assert list(manifest.configuration) == ["b"]


def test_schema_without_properties(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(tmp_path, {"name": "x", "configuration_schema": {"type": "object"}})
    )
    assert manifest.config_dialect == "configuration_schema"
    assert manifest.configuration == {}


def test_configuration_key_named_type_is_not_a_schema(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(
            tmp_path, {"name": "x", "configuration": {"type": {"type": "string", "default": "a"}}}
        )
    )
    assert manifest.config_dialect == "configuration"
    assert manifest.configuration["type"].default == "a"


# --------------------------------------------------------------------------- error paths: reading


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    error = load_error(path)
    assert str(error).startswith(f"{path}: ")
    assert "file not found" in str(error)
    assert error.path == path
    assert error.where is None


def test_directory_without_manifest(tmp_path: Path) -> None:
    error = load_error(tmp_path)
    expected = tmp_path / "manifest.json"
    assert str(error).startswith(f"{expected}: ")
    assert "file not found" in str(error)
    assert "manifest.json" in str(error)
    assert error.path == expected


def test_manifest_json_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    error = load_error(tmp_path)
    assert str(error).startswith(f"{tmp_path / 'manifest.json'}: ")
    assert "not a regular file" in str(error)


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"], ids=["empty", "whitespace"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content)
    error = load_error(path)
    assert str(error) == f"{path}: file is empty; expected a JSON object"


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b'{\n  "name": "caf\xe9"\n}')
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: line 2: ")
    assert "not valid UTF-8" in message
    assert "0xe9" in message
    assert error.where == "line 2"


def test_utf16_file_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, '{"name": "x"}'.encode("utf-16"))
    error = load_error(path)
    assert str(error).startswith(f"{path}: line 1: ")
    assert "UTF-8" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{\n  "name": "x",\n  "version": 1,\n}', 4, 1),  # trailing comma
        ('{"name": "x" "version": "1"}', 1, 14),  # missing comma
        ("{\n  \"name\": 'x'\n}", 2, 11),  # single quotes
        ('{"name": "x"', 1, 13),  # truncated
        ('{"name": "x"} trailing', 1, 15),  # extra data
    ],
)
def test_invalid_json_names_line_and_column(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error).startswith(f"{path}: line {line}, column {column}: invalid JSON: ")
    assert error.where == f"line {line}, column {column}"


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("[]", "array"),
        ('[{"name": "x"}]', "array"),
        ('"name"', "string"),
        ("42", "integer"),
        ("4.5", "number"),
        ("true", "boolean"),
        ("null", "null"),
    ],
)
def test_top_level_not_an_object(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error) == f"{path}: expected a JSON object at the top level, got {got}"


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    padding = MAX_MANIFEST_BYTES + 1 - len('{"name": "x", "pad": ""}')
    path.write_text('{"name": "x", "pad": "' + "a" * padding + '"}', encoding="utf-8")
    assert path.stat().st_size == MAX_MANIFEST_BYTES + 1
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: ")
    assert "4 MiB" in message
    assert "refused" in message
    assert "4.2 MB" in message


def test_file_just_under_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    padding = MAX_MANIFEST_BYTES - len('{"name": "x", "pad": ""}')
    path.write_text('{"name": "x", "pad": "' + "a" * padding + '"}', encoding="utf-8")
    assert path.stat().st_size == MAX_MANIFEST_BYTES
    assert load_manifest(path).name == "x"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a": ' * 100_000,
        '{"name": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["arrays", "objects", "valid-but-deep"],
)
def test_deeply_nested_json(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error).startswith(f"{path}: ")
    assert "nested too deeply" in str(error)


# --------------------------------------------------------------------------- error paths: structure


def test_missing_name(tmp_path: Path) -> None:
    path = write(tmp_path, {"version": "1.0.0"})
    error = load_error(path)
    assert str(error).startswith(f"{path}: name: missing")
    assert error.where == "name"


@pytest.mark.parametrize(
    ("name", "got"),
    [(5, "integer"), (None, "null"), (["x"], "array"), (True, "boolean")],
)
def test_name_of_wrong_type(tmp_path: Path, name: Any, got: str) -> None:
    path = write(tmp_path, {"name": name})
    error = load_error(path)
    assert str(error) == f"{path}: name: expected a non-empty string, got {got}"


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name(tmp_path: Path, name: str) -> None:
    error = manifest_error(tmp_path, {"name": name})
    assert error.where == "name"
    assert "empty" in error.problem


WRONG_TYPES = [
    ({"permissions": "database.read"}, "permissions", "expected an array of strings, got string"),
    ({"permissions": ["a", 3]}, "permissions[1]", "expected a string, got integer"),
    ({"version": 1}, "version", "expected a string, got integer"),
    ({"category": ["x"]}, "category", "expected a string, got array"),
    ({"description": 3}, "description", "expected a string, got integer"),
    ({"author": {"n": 1}}, "author", "expected a string, got object"),
    ({"title": False}, "title", "expected a string, got boolean"),
    ({"dependencies": "auth"}, "dependencies", "expected an array or an object, got string"),
    ({"dependencies": ["a", 1]}, "dependencies[1]", "got integer"),
    ({"dependencies": [{"version": "1"}]}, "dependencies[0].name", "got null"),
    ({"dependencies": {"plugins": ["a", 2]}}, "dependencies.plugins[1]", "got integer"),
    ({"events": ["a"]}, "events", "got array"),
    ({"events": {"publishes": "a"}}, "events.publishes", "got string"),
    ({"events": {"publishes": ["a", None]}}, "events.publishes[1]", "got null"),
    ({"events": {"subscribes": [1]}}, "events.subscribes[0]", "got integer"),
    ({"events": {"schemas": []}}, "events.schemas", "got array"),
    ({"events": {"schemas": {"a.b": "x"}}}, "events.schemas.a.b", "got string"),
    ({"api_endpoints": {"GET": "/"}}, "api_endpoints", "got object"),
    ({"api_endpoints": ["/status"]}, "api_endpoints[0]", "got string"),
    ({"api_endpoints": [{"method": 1, "path": "/"}]}, "api_endpoints[0].method", "got integer"),
    ({"api_endpoints": [{"path": "/a"}, {"method": "GET"}]}, "api_endpoints[1].path", "missing"),
    ({"api_endpoints": [{"path": 5}]}, "api_endpoints[0].path", "got integer"),
    (
        {"api_endpoints": [{"path": "/a", "description": 1}]},
        "api_endpoints[0].description",
        "got integer",
    ),
    ({"configuration": []}, "configuration", "expected an object, got array"),
    ({"configuration": {"k": "string"}}, "configuration.k", "got string"),
    (
        {"configuration": {"max_retries": {"type": 5}}},
        "configuration.max_retries.type",
        "got integer",
    ),
    (
        {"configuration": {"max_retries": {"type": ["integer", 5]}}},
        "configuration.max_retries.type[1]",
        "got integer",
    ),
    (
        {"configuration": {"k": {"min": "1"}}},
        "configuration.k.min",
        "expected a number, got string",
    ),
    ({"configuration": {"k": {"max": True}}}, "configuration.k.max", "got boolean"),
    ({"configuration": {"k": {"minimum": []}}}, "configuration.k.minimum", "got array"),
    ({"configuration": {"k": {"maximum": "9"}}}, "configuration.k.maximum", "got string"),
    ({"configuration": {"k": {"enum": "ab"}}}, "configuration.k.enum", "expected an array"),
    ({"configuration": {"k": {"pattern": 5}}}, "configuration.k.pattern", "got integer"),
    ({"configuration": {"k": {"required": "yes"}}}, "configuration.k.required", "got string"),
    ({"configuration": {"k": {"secret": 1}}}, "configuration.k.secret", "got integer"),
    ({"configuration": {"k": {"format": 1}}}, "configuration.k.format", "got integer"),
    ({"configuration": {"k": {"description": 1}}}, "configuration.k.description", "got integer"),
    ({"configuration": {"k": {"min_length": 2.5}}}, "configuration.k.min_length", "got number"),
    ({"configuration": {"k": {"max_length": "3"}}}, "configuration.k.max_length", "got string"),
    # The path names the field as the file spells it, as it does for min/minimum.
    ({"configuration": {"k": {"maxLength": "3"}}}, "configuration.k.maxLength", "got string"),
    ({"configuration": {"k": {"minLength": 1.5}}}, "configuration.k.minLength", "got number"),
    ({"config": [1, 2]}, "config", "got array"),
    ({"configuration_schema": []}, "configuration_schema", "got array"),
    ({"config_schema": "x"}, "config_schema", "got string"),
    (
        {"configuration_schema": {"properties": []}},
        "configuration_schema.properties",
        "got array",
    ),
    (
        {"configuration_schema": {"properties": {}, "required": "a"}},
        "configuration_schema.required",
        "got string",
    ),
    (
        {"configuration_schema": {"properties": {}, "required": ["a", 1]}},
        "configuration_schema.required[1]",
        "got integer",
    ),
    (
        {"configuration_schema": {"properties": {"k": 1}}},
        "configuration_schema.properties.k",
        "got integer",
    ),
    (
        {"configuration_schema": {"properties": {"k": {"type": 1}}}},
        "configuration_schema.properties.k.type",
        "got integer",
    ),
    (
        {"configuration_schema": {"properties": {"k": {"minimum": "1"}}}},
        "configuration_schema.properties.k.minimum",
        "got string",
    ),
    (
        {"configuration_schema": {"properties": {"k": {"enum": {}}}}},
        "configuration_schema.properties.k.enum",
        "got object",
    ),
    (
        {"configuration_schema": {"properties": {"k": {"format": 1}}}},
        "configuration_schema.properties.k.format",
        "got integer",
    ),
    (
        {"configuration": {"type": "object", "properties": {"k": {"maximum": "9"}}}},
        "configuration.properties.k.maximum",
        "got string",
    ),
]


@pytest.mark.parametrize(("extra", "where", "problem"), WRONG_TYPES)
def test_wrong_types_name_the_field_path(
    tmp_path: Path, extra: dict[str, Any], where: str, problem: str
) -> None:
    path = write(tmp_path, {"name": "x", **extra})
    error = load_error(path)
    assert str(error).startswith(f"{path}: {where}: ")
    assert error.where == where
    assert problem in error.problem


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (
            {"configuration_schema": {"properties": {"k": {"type": "string", "minLength": "3"}}}},
            "configuration_schema.properties.k.minLength",
        ),
        (
            {"configuration_schema": {"properties": {"k": {"type": "string", "maxLength": 2.5}}}},
            "configuration_schema.properties.k.maxLength",
        ),
    ],
)
def test_schema_dialect_length_of_wrong_type(
    tmp_path: Path, extra: dict[str, Any], where: str
) -> None:
    # The configuration dialect rejects a non-integer min_length with its path;
    # the schema dialect must too, or placeholder_value() later fails with a
    # bare TypeError far from the manifest.
    path = write(tmp_path, {"name": "x", **extra})
    error = load_error(path)
    assert str(error).startswith(f"{path}: {where}: ")


@pytest.mark.parametrize(
    ("extra", "where", "spelling"),
    [
        ({"configuration": {"k": {"type": "strnig"}}}, "configuration.k.type", "strnig"),
        ({"configuration": {"k": {"type": "datetime"}}}, "configuration.k.type", "datetime"),
        ({"configuration": {"k": {"type": ["uuid", "null"]}}}, "configuration.k.type", "uuid"),
        (
            {"configuration_schema": {"properties": {"k": {"type": "int32"}}}},
            "configuration_schema.properties.k.type",
            "int32",
        ),
    ],
)
def test_unknown_type_name(
    tmp_path: Path, extra: dict[str, Any], where: str, spelling: str
) -> None:
    path = write(tmp_path, {"name": "x", **extra})
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: {where}: unknown type {spelling!r}")
    for known in ("string", "integer", "number", "boolean", "array", "object"):
        assert known in error.problem


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"configuration": {"station": {"pattern": "^[A-Z"}}}, "configuration.station.pattern"),
        ({"configuration": {"station": {"pattern": "(a"}}}, "configuration.station.pattern"),
        (
            {"configuration_schema": {"properties": {"station": {"pattern": "*a"}}}},
            "configuration_schema.properties.station.pattern",
        ),
    ],
)
def test_bad_regex(tmp_path: Path, extra: dict[str, Any], where: str) -> None:
    path = write(tmp_path, {"name": "x", **extra})
    error = load_error(path)
    assert str(error).startswith(f"{path}: {where}: is not a valid regular expression: ")


# --------------------------------------------------------------------------- the error type


def test_manifest_error_is_a_testkit_error(tmp_path: Path) -> None:
    error = load_error(tmp_path / "missing.json")
    assert isinstance(error, NexusTestkitError)
    assert isinstance(error, Exception)


def test_manifest_error_format() -> None:
    error = ManifestError("/p/manifest.json", "configuration.k.type", "unknown type 'x'")
    assert str(error) == "/p/manifest.json: configuration.k.type: unknown type 'x'"
    assert error.path == Path("/p/manifest.json")
    assert error.where == "configuration.k.type"
    assert error.problem == "unknown type 'x'"
    bare = ManifestError(Path("/p/manifest.json"), None, "file is empty")
    assert str(bare) == "/p/manifest.json: file is empty"


ALL_BROKEN: list[Any] = [
    b"",
    b"\xff\xfe\x00",
    "{",
    "[1]",
    {"version": "1"},
    {"name": 1},
    {"name": "x", "permissions": [1]},
    {"name": "x", "configuration": {"k": {"type": "nope"}}},
    {"name": "x", "configuration": {"k": {"pattern": "["}}},
    {"name": "x", "api_endpoints": [{}]},
    "[" * 50_000,
]


@pytest.mark.parametrize("content", ALL_BROKEN)
def test_every_error_message_starts_with_the_file_path(tmp_path: Path, content: Any) -> None:
    path = write(tmp_path, content)
    error = load_error(path)
    assert str(error).startswith(f"{path}: ")
    assert error.path == path
    # One line: the details of a manifest problem fit on it.
    assert "\n" not in str(error)


def test_error_not_chained_to_json_internals(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "{"))
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_config_option_is_immutable() -> None:
    option = ConfigOption(name="k")
    with pytest.raises(AttributeError):
        option.name = "other"  # type: ignore[misc]
    assert option.default is MISSING
    assert not option.has_default
    assert repr(MISSING) == "MISSING"
    assert not MISSING
    assert type(MISSING)() is MISSING


def test_error_where_matches_regex_shape(tmp_path: Path) -> None:
    error = manifest_error(tmp_path, '{\n\n   "name": x}')
    assert error.where is not None
    assert re.fullmatch(r"line \d+, column \d+", error.where)
    assert error.where == "line 3, column 12"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (None, "file"),  # no file at all
        (b"", "syntax"),
        (b'{"name": "\xff"}', "syntax"),
        ("{", "syntax"),
        ("[1]", "syntax"),
        ("[" * 50_000, "syntax"),
        ({"version": "1"}, "schema"),
        ({"name": "x", "permissions": [1]}, "schema"),
        ({"name": "x", "configuration": {"k": {"type": "nope"}}}, "schema"),
    ],
)
def test_error_kind(tmp_path: Path, content: Any, kind: str) -> None:
    path = tmp_path / "manifest.json" if content is None else write(tmp_path, content)
    assert load_error(path).kind == kind


def test_error_kind_of_directory_and_huge_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    assert load_error(tmp_path).kind == "file"
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (MAX_MANIFEST_BYTES + 1))
    assert load_error(huge).kind == "syntax"
