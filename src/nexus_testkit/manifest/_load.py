"""Loading manifest.json into a typed model.

Real manifests come in several dialects; they all load into one ``Manifest``
so the rest of the harness (host, contract, strategies) never looks at raw
JSON.  The loader is strict about *structure* (a field of the wrong JSON type
is an error naming its path) and lenient about *content*: whether the version
is semantic, a default fits its bounds or a permission is known is the
contract's business (``manifest.*`` checks), so that one broken rule gives one
named check failure rather than a plugin that cannot even be loaded.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .._errors import ManifestError

__all__ = [
    "MISSING",
    "ConfigOption",
    "Endpoint",
    "EventSpec",
    "Manifest",
    "load_manifest",
    "manifest_path_of",
]

#: Manifests are a few kilobytes; anything this large is the wrong file, and
#: parsing it would cost the user seconds before the same conclusion.
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024


class _Missing:
    """Sentinel for "no default declared" (``None`` is a legitimate default)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

# Spellings seen in real manifests, mapped to JSON Schema type names.
_TYPE_ALIASES: Final[dict[str, str]] = {
    "string": "string",
    "str": "string",
    "text": "string",
    "secret": "string",
    "password": "string",
    "integer": "integer",
    "int": "integer",
    "number": "number",
    "float": "number",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "object": "object",
    "dict": "object",
}
JSON_TYPES: Final = ("string", "integer", "number", "boolean", "array", "object", "null")
HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class ConfigOption:
    """One configuration key as the manifest declares it.

    ``type`` is a JSON Schema type name (``"string"``, ``"integer"``, ...) or
    ``None`` when the manifest does not constrain it.  ``default`` is
    ``MISSING`` when no default is declared.  ``schema`` holds the original
    JSON Schema of the property for the ``configuration_schema`` dialect.
    """

    name: str
    type: str | None = None
    required: bool = False
    default: Any = MISSING
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    format: str | None = None
    secret: bool = False
    description: str = ""
    min_length: int | None = None
    max_length: int | None = None
    schema: Mapping[str, Any] | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An entry of ``api_endpoints``."""

    method: str
    path: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """The ``events`` section: declared publications, subscriptions and payload schemas.

    ``external`` names subscribed events that no plugin publishes: the
    platform core or a system outside it does (``"external": ["user.deleted"]``);
    ``ecosystem.events`` does not look for a publisher of those.
    """

    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    external: tuple[str, ...] = ()

    @property
    def declared(self) -> bool:
        return bool(self.publishes or self.subscribes)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A loaded manifest.json.

    ``raw`` is the parsed JSON object as written; every other attribute is
    normalised.  ``config_dialect`` tells which of ``"configuration"``,
    ``"config"``, ``"configuration_schema"`` or ``"none"`` the file used.
    """

    path: Path
    raw: Mapping[str, Any]
    name: str
    version: str | None = None
    category: str | None = None
    title: str | None = None
    description: str = ""
    author: str | None = None
    permissions: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    configuration: Mapping[str, ConfigOption] = field(default_factory=dict)
    config_dialect: str = "none"
    config_schema: Mapping[str, Any] | None = None
    events: EventSpec = field(default_factory=EventSpec)
    api_endpoints: tuple[Endpoint, ...] = ()

    @property
    def directory(self) -> Path:
        """The plugin directory (the folder holding manifest.json)."""
        return self.path.parent

    @property
    def secret_keys(self) -> tuple[str, ...]:
        return tuple(k for k, opt in self.configuration.items() if opt.secret)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(k for k, opt in self.configuration.items() if opt.required)

    def defaults(self) -> dict[str, Any]:
        """The declared default of every key that has one."""
        return {k: opt.default for k, opt in self.configuration.items() if opt.has_default}


def manifest_path_of(path: Path | str) -> Path:
    """The manifest.json of a plugin directory, or ``path`` itself if it is a file."""
    p = Path(path)
    return p / "manifest.json" if p.is_dir() else p


def load_manifest(path: Path | str) -> Manifest:
    """Load and normalise a plugin's manifest.

    ``path`` is a manifest.json file or the plugin directory that holds one.
    Raises :class:`ManifestError` naming the file, the line and column or the
    field path, and what was expected.
    """
    # os.path, not pathlib: the fixtures call this for every test.
    name = os.fspath(path)
    try:
        st = os.stat(name)
        if stat.S_ISDIR(st.st_mode):
            name = os.path.join(name, "manifest.json")
            st = os.stat(name)
        key = (os.path.abspath(name), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
        name = os.fspath(manifest_path_of(path))
    cached = _cache.get(key) if key is not None else None
    if cached is not None:
        return cached
    file = Path(name)
    manifest = _build(file, _read_json_object(file))
    if key is not None:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = manifest
    return manifest


# Manifests are read once per test by the fixtures; an unchanged file (same
# mtime and size) is not parsed again.  Manifest is frozen; its ``raw`` dict is
# shared, which is why resolve_config deep-copies the defaults it takes.
_cache: dict[tuple[str, int, int], Manifest] = {}


# --------------------------------------------------------------------------- reading


def _read_json_object(file: Path) -> dict[str, Any]:
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise ManifestError(
            file, None, "file not found; a plugin directory needs a manifest.json", kind="file"
        ) from None
    except OSError as exc:
        raise ManifestError(
            file, None, f"cannot be read: {exc.strerror or exc}", kind="file"
        ) from None
    if not file.is_file():
        raise ManifestError(file, None, "is not a regular file", kind="file")
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(
            file,
            None,
            f"is {size / 1e6:.1f} MB; manifests larger than "
            f"{MAX_MANIFEST_BYTES // (1024 * 1024)} MiB are refused (is this the right file?)",
            kind="syntax",
        )
    try:
        blob = file.read_bytes()
    except OSError as exc:
        raise ManifestError(
            file, None, f"cannot be read: {exc.strerror or exc}", kind="file"
        ) from None
    if not blob.strip():
        raise ManifestError(file, None, "file is empty; expected a JSON object", kind="syntax")
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = blob.count(b"\n", 0, exc.start) + 1
        raise ManifestError(
            file,
            f"line {line}",
            f"is not valid UTF-8 (byte 0x{blob[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
            kind="syntax",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            file,
            f"line {exc.lineno}, column {exc.colno}",
            f"invalid JSON: {exc.msg}",
            kind="syntax",
        ) from None
    except RecursionError:
        raise ManifestError(
            file, None, "invalid JSON: nested too deeply to be a manifest", kind="syntax"
        ) from None
    if not isinstance(data, dict):
        raise ManifestError(
            file,
            None,
            f"expected a JSON object at the top level, got {json_type(data)}",
            kind="syntax",
        )
    return data


def json_type(value: object) -> str:
    """The JSON type name of a value parsed from JSON (``"object"`` for a dict)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --------------------------------------------------------------------------- building


class _Builder:
    """Field-path aware accessors: every type error names its path in the file."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> ManifestError:
        return ManifestError(self.file, where, problem)

    def expect(self, value: object, types: type | tuple[type, ...], where: str, what: str) -> Any:
        # bool is an int subclass; a manifest `true` is never a number to us.
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise self.fail(where, f"expected {what}, got boolean")
        if not isinstance(value, types):
            raise self.fail(where, f"expected {what}, got {json_type(value)}")
        return value

    def opt_str(self, data: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
        if key not in data or data[key] is None:
            return None
        return str(self.expect(data[key], str, f"{prefix}{key}", "a string"))

    def str_list(self, value: object, where: str) -> tuple[str, ...]:
        items = self.expect(value, list, where, "an array of strings")
        for i, item in enumerate(items):
            self.expect(item, str, f"{where}[{i}]", "a string")
        return tuple(items)

    def length(self, spec: Mapping[str, Any], spellings: tuple[str, ...], where: str) -> int | None:
        """A string length bound, under whichever spelling the file uses."""
        for spelling in spellings:
            if spec.get(spelling) is not None:
                value = self.expect(spec[spelling], int, f"{where}.{spelling}", "a whole number")
                if value < 0:
                    raise self.fail(
                        f"{where}.{spelling}", f"expected a whole number >= 0, got {value}"
                    )
                return int(value)
        return None

    def number(self, value: object, where: str) -> float | None:
        if value is None:
            return None
        return self.expect(value, (int, float), where, "a number")  # type: ignore[no-any-return]


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


#: A plugin name is a URL segment (/api/plugins/{name}), a key prefix and a report
#: label: longer than this is not a name.
MAX_NAME_LENGTH = 100


def _check_name(b: _Builder, name: str) -> None:
    """A name that could break a URL, a path or a report line fails, never echoed raw."""
    if len(name) > MAX_NAME_LENGTH:
        raise b.fail(
            "name", f"is {len(name)} characters long; a plugin name has at most {MAX_NAME_LENGTH}"
        )
    for position, char in enumerate(name):
        if not char.isprintable():
            raise b.fail(
                "name",
                f"contains the control character U+{ord(char):04X} at position {position}; a "
                "plugin name appears in URLs, file names and report lines",
            )
        if char in "/\\":
            raise b.fail(
                "name",
                f"contains the path separator {char!r} at position {position}; a plugin name is "
                "one path segment (the plugin is mounted at /api/plugins/<name>)",
            )
    if name in (".", ".."):
        raise b.fail("name", f"is {name!r}, which is a path, not a name")


def _build(file: Path, data: dict[str, Any]) -> Manifest:
    b = _Builder(file)
    if "name" not in data:
        raise b.fail("name", "missing; every manifest needs the plugin's name")
    name = b.expect(data["name"], str, "name", "a non-empty string")
    if not name.strip():
        raise b.fail("name", "expected a non-empty string, got an empty one")
    _check_name(b, name)

    permissions = b.str_list(data["permissions"], "permissions") if "permissions" in data else ()
    dialect, configuration, schema = _configuration(b, data)
    return Manifest(
        path=file,
        raw=data,
        name=name,
        version=b.opt_str(data, "version"),
        category=b.opt_str(data, "category"),
        title=b.opt_str(data, "title") or b.opt_str(data, "display_name"),
        description=b.opt_str(data, "description") or "",
        author=b.opt_str(data, "author"),
        permissions=permissions,
        dependencies=_dependencies(b, data.get("dependencies")),
        configuration=configuration,
        config_dialect=dialect,
        config_schema=schema,
        events=_events(b, data.get("events")),
        api_endpoints=_endpoints(b, data.get("api_endpoints")),
    )


def _dependencies(b: _Builder, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    names: list[str] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                names.append(b.expect(item.get("name"), str, f"dependencies[{i}].name", "a string"))
            else:
                names.append(b.expect(item, str, f"dependencies[{i}]", "a string or an object"))
        return tuple(names)
    deps = b.expect(value, dict, "dependencies", "an array or an object")
    for key, spec in deps.items():
        # {"plugins": ["a", "b"]} groups names; {"a": ">=1.0"} maps a name to a version;
        # another list ({"python": ["requests"]}) names packages, not plugins (the rule
        # of manifest._dependencies.declared_dependencies).
        if isinstance(spec, list):
            listed = b.str_list(spec, f"dependencies.{key}")
            if key == "plugins":
                names.extend(listed)
        else:
            names.append(key)
    return tuple(names)


def _events(b: _Builder, value: object) -> EventSpec:
    if value is None:
        return EventSpec()
    events = b.expect(value, dict, "events", "an object with publishes/subscribes")
    publishes = b.str_list(events["publishes"], "events.publishes") if "publishes" in events else ()
    subscribes = (
        b.str_list(events["subscribes"], "events.subscribes") if "subscribes" in events else ()
    )
    external = b.str_list(events["external"], "events.external") if "external" in events else ()
    schemas: dict[str, Mapping[str, Any]] = {}
    if "schemas" in events:
        raw = b.expect(events["schemas"], dict, "events.schemas", "an object of JSON Schemas")
        for event_name, schema in raw.items():
            schemas[event_name] = b.expect(
                schema, dict, f"events.schemas.{event_name}", "a JSON Schema object"
            )
    return EventSpec(publishes=publishes, subscribes=subscribes, schemas=schemas, external=external)


def _endpoints(b: _Builder, value: object) -> tuple[Endpoint, ...]:
    if value is None:
        return ()
    items = b.expect(value, list, "api_endpoints", "an array of {method, path} objects")
    endpoints = []
    for i, item in enumerate(items):
        where = f"api_endpoints[{i}]"
        entry = b.expect(item, dict, where, "an object with method and path")
        method = b.expect(entry.get("method", "GET"), str, f"{where}.method", "a string")
        if "path" not in entry:
            raise b.fail(f"{where}.path", 'missing; expected the endpoint\'s path, like "/status"')
        path = b.expect(entry["path"], str, f"{where}.path", "a string")
        description = b.opt_str(entry, "description", f"{where}.") or ""
        endpoints.append(Endpoint(method=method.upper(), path=path, description=description))
    return tuple(endpoints)


# --------------------------------------------------------------------------- configuration


def _configuration(
    b: _Builder, data: Mapping[str, Any]
) -> tuple[str, dict[str, ConfigOption], Mapping[str, Any] | None]:
    for key in ("configuration_schema", "config_schema"):
        if key in data:
            schema = b.expect(data[key], dict, key, "a JSON Schema object")
            return "configuration_schema", _from_schema(b, schema, key), schema
    if "configuration" in data:
        conf = b.expect(data["configuration"], dict, "configuration", "an object")
        # Some manifests put a whole JSON Schema under "configuration".
        if conf.get("type") == "object" and isinstance(conf.get("properties"), dict):
            return "configuration_schema", _from_schema(b, conf, "configuration"), conf
        options = {
            key: _option(b, key, entry, f"configuration.{key}") for key, entry in conf.items()
        }
        return "configuration", options, None
    if "config" in data:
        conf = b.expect(data["config"], dict, "config", "an object of default values")
        options = {
            key: ConfigOption(
                name=key,
                type=None if value is None else json_type(value),
                default=value,
            )
            for key, value in conf.items()
        }
        return "config", options, None
    return "none", {}, None


def _type_name(b: _Builder, value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        # ["string", "null"]: the harness models the non-null member.
        members = [b.expect(v, str, f"{where}[{i}]", "a type name") for i, v in enumerate(value)]
        non_null = [m for m in members if m != "null"]
        value = non_null[0] if non_null else "null"
    text = b.expect(value, str, where, "a type name")
    normalised = _TYPE_ALIASES.get(text.lower(), text if text in JSON_TYPES else None)
    if normalised is None:
        known = ", ".join(sorted({*_TYPE_ALIASES.values()}))
        raise b.fail(where, f"unknown type {text!r}; expected one of {known}")
    return normalised


def _enum(b: _Builder, enum: object, where: str) -> tuple[Any, ...] | None:
    if enum is None:
        return None
    return tuple(b.expect(enum, list, f"{where}.enum", "an array"))


def _pattern(b: _Builder, pattern: object, where: str) -> str | None:
    if pattern is None:
        return None
    text: str = b.expect(pattern, str, f"{where}.pattern", "a regular expression string")
    try:
        re.compile(text)
    except re.error as exc:
        raise b.fail(f"{where}.pattern", f"is not a valid regular expression: {exc}") from None
    return text


def _option(b: _Builder, key: str, entry: object, where: str) -> ConfigOption:
    spec = b.expect(entry, dict, where, 'an object like {"type": "string", ...}')
    enum = _enum(b, spec.get("enum"), where)
    pattern = _pattern(b, spec.get("pattern"), where)
    required = spec.get("required", False)
    b.expect(required, bool, f"{where}.required", "true or false")
    type_spelling = spec.get("type")
    secret = spec.get("secret", False)
    b.expect(secret, bool, f"{where}.secret", "true or false")
    if isinstance(type_spelling, str) and type_spelling.lower() in ("secret", "password"):
        secret = True
    minimum = spec["min"] if "min" in spec else spec.get("minimum")
    maximum = spec["max"] if "max" in spec else spec.get("maximum")
    min_name = "min" if "min" in spec else "minimum"
    max_name = "max" if "max" in spec else "maximum"
    min_length = b.length(spec, ("min_length", "minLength"), where)
    max_length = b.length(spec, ("max_length", "maxLength"), where)
    return ConfigOption(
        name=key,
        type=_type_name(b, type_spelling, f"{where}.type"),
        required=required,
        default=spec.get("default", MISSING),
        minimum=b.number(minimum, f"{where}.{min_name}"),
        maximum=b.number(maximum, f"{where}.{max_name}"),
        enum=enum,
        pattern=pattern,
        format=b.opt_str(spec, "format", f"{where}."),
        secret=secret,
        description=b.opt_str(spec, "description", f"{where}.") or "",
        min_length=min_length,
        max_length=max_length,
    )


def _from_schema(b: _Builder, schema: Mapping[str, Any], where: str) -> dict[str, ConfigOption]:
    props = schema.get("properties", {})
    b.expect(props, dict, f"{where}.properties", "an object of property schemas")
    required = schema.get("required", [])
    required_set = set(b.str_list(required, f"{where}.required"))
    options: dict[str, ConfigOption] = {}
    for key, prop in props.items():
        pwhere = f"{where}.properties.{key}"
        spec = b.expect(prop, dict, pwhere, "a JSON Schema object")
        enum = spec.get("enum")
        if enum is None and "const" in spec:
            enum = [spec["const"]]
        enum = _enum(b, enum, pwhere)
        pattern = _pattern(b, spec.get("pattern"), pwhere)
        secret = spec.get("secret", spec.get("x-secret", spec.get("writeOnly", False)))
        options[key] = ConfigOption(
            name=key,
            type=_type_name(b, spec.get("type"), f"{pwhere}.type"),
            required=key in required_set,
            default=spec.get("default", MISSING),
            minimum=b.number(spec.get("minimum"), f"{pwhere}.minimum"),
            maximum=b.number(spec.get("maximum"), f"{pwhere}.maximum"),
            enum=enum,
            pattern=pattern,
            format=b.opt_str(spec, "format", f"{pwhere}."),
            secret=bool(secret),
            description=b.opt_str(spec, "description", f"{pwhere}.") or "",
            min_length=b.length(spec, ("minLength",), pwhere),
            max_length=b.length(spec, ("maxLength",), pwhere),
            schema=spec,
        )
    return options
