"""Checks of manifest.json alone."""

from __future__ import annotations

import re

from ...manifest._load import HTTP_METHODS
from ...manifest._rules import check_value
from .._checks import Verdict, check, failed
from .._evidence import Evidence
from ._util import bullets

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_PERMISSION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_EVENT = re.compile(r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$")


@check(
    "manifest.exists",
    severity="error",
    description="The plugin directory has a manifest.json.",
    fix="Add manifest.json beside plugin.py with at least name, version and category.",
    needs={"manifest_file"},
)
def exists(ev: Evidence) -> Verdict | None:
    if ev.manifest_file_problem:
        return failed(f"{ev.manifest_file}: {ev.manifest_file_problem}")
    return None


@check(
    "manifest.json",
    severity="error",
    description="manifest.json is UTF-8 JSON holding an object.",
    fix="Fix the syntax at the line and column given; save the file as UTF-8.",
    needs={"manifest_json"},
)
def json_(ev: Evidence) -> Verdict | None:
    error = ev.manifest_error
    if error is not None and error.kind in ("syntax", "file"):
        return failed(str(error))
    return None


@check(
    "manifest.schema",
    severity="error",
    description="""The manifest follows the schema: name, semantic version, category, permission
    strings, configuration entries, event names and api_endpoints are well-formed.""",
    fix="Correct the field named in the message; versions look like 1.2.3.",
    needs={"manifest_doc"},
)
def schema(ev: Evidence) -> Verdict | None:
    if ev.manifest_error is not None:
        return failed(str(ev.manifest_error))
    problems = schema_problems(ev.manifest)
    if problems:
        return failed(f"{ev.manifest_file}: the manifest breaks the schema:\n{bullets(problems)}")
    return None


@check(
    "manifest.config_defaults",
    severity="error",
    description="Each configuration default matches its declared type, enum, bounds and pattern.",
    fix="Change the default, or the rule it breaks, so that the default is a valid value.",
    needs={"manifest"},
)
def config_defaults(ev: Evidence) -> Verdict | None:
    bad = []
    for key, option in ev.manifest.configuration.items():
        if option.has_default:
            broken = check_value(option, option.default)
            if broken:
                bad.append(f"{key}: default {option.default!r} breaks {broken}")
    if bad:
        return failed(f"{ev.manifest_file}:\n{bullets(bad)}")
    return None


@check(
    "manifest.identity",
    severity="error",
    description="The plugin instance's name, version and category agree with the manifest.",
    fix="Set self.name, self.version and self.category in __init__ to the manifest's values.",
    needs={"manifest", "loaded"},
)
def identity(ev: Evidence) -> Verdict | None:
    instance = ev.loaded.instance
    wrong = []
    for attr in ("name", "version", "category"):
        declared = getattr(ev.manifest, attr)
        actual = getattr(instance, attr, None)
        if declared is not None and actual != declared:
            wrong.append(f"{attr}: the manifest says {declared!r}, the instance has {actual!r}")
    if wrong:
        return failed(f"{ev.file}:\n{bullets(wrong)}")
    return None


def schema_problems(manifest: object) -> list[str]:
    m: object = manifest
    raw = m.raw  # type: ignore[attr-defined]
    problems = []
    name = m.name  # type: ignore[attr-defined]
    if not _NAME.match(name):
        problems.append(
            f"name: {name!r} is not a valid plugin name (letters, digits and _, "
            "not starting with a digit: it becomes a Python module path on the platform)"
        )
    version = m.version  # type: ignore[attr-defined]
    if version is None:
        problems.append("version: missing; expected a semantic version like 1.0.0")
    elif not _SEMVER.match(version):
        problems.append(f"version: {version!r} is not a semantic version like 1.0.0")
    category = m.category  # type: ignore[attr-defined]
    if category is None:
        problems.append("category: missing; the platform reads it when it discovers plugins")
    elif not _NAME.match(category):
        problems.append(f"category: {category!r} is not a valid category name")
    for i, permission in enumerate(m.permissions):  # type: ignore[attr-defined]
        if not _PERMISSION.match(permission):
            problems.append(f"permissions[{i}]: {permission!r} is not of the form area.action")
    if m.config_dialect == "configuration":  # type: ignore[attr-defined]
        for key, entry in raw.get("configuration", {}).items():
            if "type" not in entry and "default" not in entry:
                problems.append(f"configuration.{key}: declares neither a type nor a default")
            option = m.configuration[key]  # type: ignore[attr-defined]
            if (
                option.minimum is not None
                and option.maximum is not None
                and option.minimum > option.maximum
            ):
                problems.append(
                    f"configuration.{key}: min {option.minimum} is above max {option.maximum}"
                )
    events = m.events  # type: ignore[attr-defined]
    for section in ("publishes", "subscribes", "external"):
        for i, event in enumerate(getattr(events, section)):
            if not _EVENT.match(event):
                problems.append(f"events.{section}[{i}]: {event!r} is not a dotted event name")
    for i, event in enumerate(events.external):
        if event not in events.subscribes:
            problems.append(
                f"events.external[{i}]: {event!r} is not in events.subscribes (external names "
                "subscribed events that come from outside the plugins)"
            )
    for i, endpoint in enumerate(m.api_endpoints):  # type: ignore[attr-defined]
        if endpoint.method not in HTTP_METHODS:
            problems.append(f"api_endpoints[{i}].method: {endpoint.method!r} is not an HTTP method")
        if not endpoint.path.startswith("/"):
            problems.append(f"api_endpoints[{i}].path: {endpoint.path!r} must start with /")
    return problems
