"""Event payloads: from the manifest's ``events.schemas`` when it has one, else any JSON object.

``events.schemas`` is our documented extension of manifest.json: event name
-> JSON Schema of the payload.  Event data on the platform is always an
object, so a schema is read as a schema of objects (a schema with no ``type``
gets objects; one that excludes objects is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..manifest._load import Manifest
from ._args import as_manifest, describe, short_repr
from ._schema import Compiler, Empty
from ._values import json_values, mix

__all__ = ["event_payloads"]


def _any_payload() -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(st.text(max_size=20), json_values(), max_size=6)
    return mix([{}], objects)


def event_payloads(
    manifest: Manifest | Mapping[str, Any], event_name: str
) -> st.SearchStrategy[dict[str, Any]]:
    """JSON-serialisable payloads (dicts) of ``event_name``.

    With ``events.schemas[event_name]`` in the manifest, payloads are valid
    under that schema (keywords: see docs/property-testing.md); otherwise they
    are arbitrary JSON objects, ``{}`` and objects missing any key included.
    ``event_name`` must be declared in ``events.publishes`` or ``events.subscribes``.
    """
    m = as_manifest(manifest)
    if not isinstance(event_name, str):
        raise InvalidArgument(
            f"event_name must be a string, got event_name={short_repr(event_name)}"
        )
    declared = list(dict.fromkeys([*m.events.publishes, *m.events.subscribes]))
    if event_name not in declared:
        if declared:
            listing = ", ".join(declared)
            raise InvalidArgument(
                f"event_name={event_name!r} is not declared in the manifest; "
                f"declared events: {listing}"
            )
        raise InvalidArgument(
            f"event_name={event_name!r} is not declared in the manifest; {describe(m)} declares "
            "no events (add it to events.publishes or events.subscribes)"
        )
    schema = m.events.schemas.get(event_name)
    if schema is None:
        return _any_payload()
    where = f"events.schemas.{event_name}"
    compiler = Compiler(f"event_name={event_name!r}", "event_payloads()")
    root = dict(schema)
    if "type" not in root and "enum" not in root and "const" not in root:
        root["type"] = "object"
    elif "type" in root:
        types = root["type"] if isinstance(root["type"], list) else [root["type"]]
        if "object" not in types:
            raise InvalidArgument(
                f"event_name={event_name!r}: {where}.type is {root['type']!r}; event payloads "
                'are JSON objects, so the schema must allow "object"'
            )
        root["type"] = "object"
    try:
        strategy = compiler.compile(root, where)
    except Empty as exc:
        raise InvalidArgument(
            f"event_name={event_name!r}: no payload satisfies {where} ({exc.where}: {exc.problem})"
        ) from None
    if "enum" in root or "const" in root:
        members = root["enum"] if "enum" in root else [root["const"]]
        if not any(isinstance(member, dict) for member in members):
            raise InvalidArgument(
                f"event_name={event_name!r}: {where} lists no object; "
                "event payloads are JSON objects"
            )
        strategy = strategy.filter(lambda value: isinstance(value, dict))
    return strategy
