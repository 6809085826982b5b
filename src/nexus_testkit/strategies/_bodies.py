"""Request bodies from a FastAPI app's OpenAPI document.

Valid bodies are compiled from the operation's ``application/json`` schema
(``$ref`` into ``#/components/schemas`` resolved here, pydantic's ``anyOf``
for ``Optional`` fields drawn as ``one_of``).  Invalid bodies change one thing
of a valid body that JSON Schema *and* pydantic refuse, so FastAPI answers
422: a required property left out, a property (or the whole body) of the wrong
type, or an unknown property where the model forbids extras.  Wrong types are
containers for scalar fields and the other container for container fields,
because pydantic's lax mode turns ``"5"`` into 5 and 5 into ``"5"`` (with
``coerce_numbers_to_str``) but never a list into a string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._args import check_bool, short_repr
from ._schema import Compiler, Empty
from ._values import json_values

__all__ = ["request_bodies"]

_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_JSON: Final = "application/json"
#: Where the harness and the platform mount a plugin's routers.
_MOUNT: Final = re.compile(r"/api/plugins/[^/]+")


def _openapi(app: Any) -> Mapping[str, Any]:
    if isinstance(app, Mapping):
        if "paths" not in app:
            raise InvalidArgument(
                f"app must be a FastAPI app, a started PluginHost or an OpenAPI document; "
                f"app={short_repr(app)} is a dict without 'paths'"
            )
        return app
    if hasattr(app, "openapi") and callable(app.openapi):
        document = app.openapi()
    elif hasattr(app, "app") and hasattr(app, "manifest"):  # a PluginHost
        if app.app is None:
            raise InvalidArgument(
                f"app={short_repr(app)} is a PluginHost that is not started; pass it inside "
                "`async with` (or pass host.app)"
            )
        document = app.app.openapi()
    else:
        raise InvalidArgument(
            "app must be a FastAPI app, a started PluginHost or an OpenAPI document, "
            f"got app={short_repr(app)}"
        )
    if not isinstance(document, Mapping):  # pragma: no cover - FastAPI always returns a dict
        raise InvalidArgument(f"app.openapi() returned {short_repr(document)}, not a dict")
    return document


def _operations(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in _METHODS
    ]


def _find_operation(
    document: Mapping[str, Any], method: str, path: str
) -> tuple[str, Mapping[str, Any]]:
    paths: Mapping[str, Any] = document.get("paths", {})
    known = "\n".join(f"- {m} {p}" for m, p in _operations(document)) or "- (none)"
    if path in paths:
        full = path
    else:
        matches = [p for p in paths if path.startswith("/") and p.endswith(path)]
        if len(matches) > 1:
            # "/tasks" is the plugin's own /tasks, mounted at /api/plugins/{name}, before
            # it is the end of /api/plugins/{name}/webhook/tasks.
            mounted = [p for p in matches if _MOUNT.fullmatch(p[: len(p) - len(path)])]
            matches = mounted if len(mounted) == 1 else matches
        if len(matches) > 1:
            listing = "\n".join(f"- {p}" for p in matches)
            raise InvalidArgument(
                f"path={path!r} matches several paths of the app; pass the full path:\n{listing}"
            )
        if not matches:
            raise InvalidArgument(
                f"path={path!r} is not a path of the app (full, or the end of one); "
                f"known operations:\n{known}"
            )
        full = matches[0]
    operation = paths[full].get(method.lower())
    if operation is None:
        raise InvalidArgument(
            f"method={method!r}: the app has no {method.upper()} {full}; known operations:\n{known}"
        )
    return full, operation


def _body_schema(
    compiler: Compiler, document: Mapping[str, Any], label: str, operation: Mapping[str, Any]
) -> Any:
    body, _ = compiler.resolve(operation.get("requestBody"), label)
    content = body.get("content", {}) if isinstance(body, Mapping) else {}
    if _JSON not in content:
        has = ", ".join(content) if content else "no request body"
        raise InvalidArgument(
            f"{label} takes no JSON body ({has}); request_bodies() draws application/json bodies"
        )
    return content[_JSON].get("schema", True)


def _wrong_values(
    compiler: Compiler, types: frozenset[str] | None
) -> st.SearchStrategy[Any] | None:
    """Values of a type ``types`` lacks, that pydantic's lax mode does not coerce either."""
    if types is None:
        return None
    containers = [t for t in ("object", "array") if t not in types]
    if not containers:
        scalars = [t for t in ("number", "boolean", "string") if t not in types]
        if not scalars:
            return None
        return compiler.compile({"type": scalars}, "#")
    return compiler.compile({"type": containers, "maxItems": 3}, "#")


def _set(key: str) -> Callable[[tuple[dict[str, Any], Any]], dict[str, Any]]:
    return lambda pair: {**pair[0], key: pair[1]}


def _drop(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {k: v for k, v in body.items() if k != key}


def request_bodies(
    app: Any, method: str, path: str, *, valid: bool = True
) -> st.SearchStrategy[Any]:
    """JSON bodies for ``method path`` of ``app``, from its OpenAPI schema.

    ``app`` is a FastAPI app (``host.app``, the ``nexus_app`` fixture), a
    started :class:`~nexus_testkit.PluginHost` or an OpenAPI document.
    ``path`` is the full mounted path (``/api/plugins/my_plugin/action``) or its
    unique end (``/action``).  ``valid=False`` draws bodies FastAPI answers 422
    to: a required property missing, a property or the body of the wrong type,
    or an unknown property where the model forbids extras.
    """
    check_bool(valid, "valid")
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise InvalidArgument(
            f"method must be an HTTP method like 'POST', got method={short_repr(method)}"
        )
    if not isinstance(path, str):
        raise InvalidArgument(f"path must be a string, got path={short_repr(path)}")
    document = _openapi(app)
    full, operation = _find_operation(document, method, path)
    label = f"{method.upper()} {full}"
    compiler = Compiler(label, "request_bodies()", root=document, refs=True, any_of=True)
    schema = _body_schema(compiler, document, label, operation)
    try:
        bodies = compiler.compile(schema, f"{label} request body")
    except Empty as exc:
        raise InvalidArgument(
            f"{label}: no body satisfies the schema ({exc.where}: {exc.problem})"
        ) from None
    if valid:
        return bodies
    return _invalid_bodies(compiler, schema, bodies, label)


def _invalid_bodies(
    compiler: Compiler, schema: Any, bodies: st.SearchStrategy[Any], label: str
) -> st.SearchStrategy[Any]:
    branches: list[st.SearchStrategy[Any]] = []
    wrong_body = _wrong_values(compiler, compiler.types_of(schema))
    if wrong_body is not None:
        branches.append(wrong_body)
    resolved, _ = compiler.resolve(schema, "#")
    if isinstance(resolved, Mapping) and compiler.types_of(resolved) == frozenset({"object"}):
        objects = bodies.filter(lambda body: isinstance(body, dict))
        properties = resolved.get("properties", {})
        for key in resolved.get("required", []):
            branches.append(objects.map(_drop(key)))
        for key, sub in properties.items():
            wrong = _wrong_values(compiler, compiler.types_of(sub))
            if wrong is not None:
                branches.append(st.tuples(objects, wrong).map(_set(key)))
        if resolved.get("additionalProperties") is False:
            unknown = st.text(min_size=1, max_size=12).filter(lambda k: k not in properties)
            extra = st.tuples(objects, unknown, json_values()).map(lambda t: {**t[0], t[1]: t[2]})
            branches.append(extra)
    if not branches:
        raise InvalidArgument(
            f"{label}: the body schema accepts any JSON value, so there is no invalid body "
            "to draw (valid=False)"
        )
    return st.one_of(branches)
