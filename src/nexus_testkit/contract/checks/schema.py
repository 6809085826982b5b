"""Checks of get_database_schema()."""

from __future__ import annotations

import json
from typing import Any

from ..._describe import safe_str
from .._checks import Verdict, check, failed
from .._evidence import Evidence


def _problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return f"returned {type(schema).__name__}; expected a dict"
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        return f"returned a dict that is not JSON-serialisable: {safe_str(exc)}"
    collections = schema.get("collections", {})
    if not isinstance(collections, dict):
        return (
            f"has collections of type {type(collections).__name__}; expected a dict of name -> spec"
        )
    for name, spec in collections.items():
        if not isinstance(spec, dict):
            return f"collection {name!r} is {type(spec).__name__}; expected a dict with indexes"
        indexes = spec.get("indexes", [])
        if not isinstance(indexes, list):
            return (
                f"collection {name!r} has indexes of type {type(indexes).__name__}; expected a list"
            )
        for i, index in enumerate(indexes):
            if not isinstance(index, dict) or not isinstance(index.get("field"), str):
                return (
                    f"collection {name!r} index {i} is {index!r}; "
                    "expected {'field': str, 'unique'?: bool}"
                )
            if "unique" in index and not isinstance(index["unique"], bool):
                return (
                    f"collection {name!r} index {i} has unique={index['unique']!r}; expected a bool"
                )
    return None


@check(
    "schema.database",
    severity="error",
    description="""get_database_schema() returns a JSON-serialisable dict whose collections map
    names to indexes lists of {field, unique?}.""",
    fix="Return {'collections': {name: {'indexes': [{'field': ..., 'unique': bool}]}}}.",
    needs={"db_schema"},
)
def database(ev: Evidence) -> Verdict | None:
    attempt = ev.db_schema
    assert attempt is not None
    if attempt.problem:
        return failed(f"{ev.file}: get_database_schema() raised {attempt.problem}")
    problem = _problem(attempt.value)
    if problem:
        return failed(f"{ev.file}: get_database_schema() {problem}")
    return None
