"""The API exercise: every operation of the plugin's OpenAPI called with drawn input.

Parameters (path, query, header) and JSON bodies are drawn from the schema the
app publishes, with the strategies of :mod:`nexus_testkit.strategies`
(derandomised, so a run is reproducible).  The exercise is stateful: values
the responses return (fields named like a path parameter, ``id``, the
``Location`` header) are fed to the operations that take them, so create,
read, update, delete and read-again run in that order; then unknown ids and
invalid input are tried.  Every exchange is recorded with what the routes
raised, for the checks to judge.

How much is drawn follows ``--nexus-examples`` (N): ``ceil(N / 5)`` valid
draws per operation and ``ceil(N / 10)`` invalid ones, identical requests sent
once; an operation that times out is not called again.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from .._errors import PluginTimeoutError
from ..host._loader import plugin_frames
from ._evidence import NO_BODY, Evidence, Exchange
from ._probes import describe_exception

__all__ = ["Exerciser", "Operation", "walk_routes"]

_METHODS = ("get", "post", "put", "patch", "delete")
_ORDER = {m.upper(): i for i, m in enumerate(_METHODS)}
_UNKNOWN_STRING = "nexus-unknown-id"
_UNKNOWN_INT = 987654321
_UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
_OPENAPI_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def walk_routes(app: Any) -> Iterator[tuple[str, str, Any]]:
    """(method, path, route) of every HTTP route, through included routers and mounts."""

    def walk(routes: list[Any], base: str) -> Iterator[tuple[str, str, Any]]:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if callable(contexts):
                # FastAPI >= 0.16x keeps an included router as one entry whose
                # effective routes carry their full paths.
                for context in contexts():
                    for method in sorted(getattr(context, "methods", None) or ()):
                        if method != "HEAD":
                            yield method, base + context.path, context
                continue
            methods = getattr(route, "methods", None)
            path = getattr(route, "path", "")
            if methods:
                for method in sorted(methods):
                    if method != "HEAD":
                        yield method, base + path, route
                continue
            inner = getattr(route, "routes", None)
            if inner is None:
                inner = getattr(getattr(route, "app", None), "routes", None)
            if inner:
                yield from walk(list(inner), base + path)

    for method, path, route in walk(list(app.routes), ""):
        if path not in _OPENAPI_PATHS:
            yield method, path, route


class Operation:
    """One method + path of the OpenAPI document, with its compiled strategies."""

    def __init__(self, document: Mapping[str, Any], method: str, path: str, spec: Any) -> None:
        from ..strategies._schema import Compiler

        self.document = document
        self.method = method
        self.path = path
        self.spec = spec
        self.label = f"{method} {path}"
        self.compiler = Compiler(self.label, "the contract", root=document, refs=True, any_of=True)
        self.params: list[dict[str, Any]] = []
        for raw in spec.get("parameters", []) or []:
            param, _ = self.compiler.resolve(raw, "#")
            if isinstance(param, Mapping) and param.get("in") in ("path", "query", "header"):
                self.params.append(dict(param))
        self.path_params = [p["name"] for p in self.params if p["in"] == "path"]
        body, _ = self.compiler.resolve(spec.get("requestBody"), "#")
        content = body.get("content", {}) if isinstance(body, Mapping) else {}
        self.json_body = "application/json" in content
        self.body_required = bool(isinstance(body, Mapping) and body.get("required"))
        self.hung = False

    def schema_of(self, name: str) -> Any:
        for p in self.params:
            if p["name"] == name:
                resolved, _ = self.compiler.resolve(p.get("schema", {}), "#")
                return resolved
        return {}

    def response_schema(self, status: int) -> Any:
        responses = self.spec.get("responses", {}) or {}
        entry = responses.get(str(status)) or responses.get(f"{status // 100}XX")
        if entry is None:
            return None
        entry, _ = self.compiler.resolve(entry, "#")
        content = entry.get("content", {}) if isinstance(entry, Mapping) else {}
        media = content.get("application/json")
        return None if media is None else media.get("schema")

    # -- strategies -------------------------------------------------------------

    def _param_strategy(self, param: Mapping[str, Any]) -> Any:
        from hypothesis import strategies as st

        schema = param.get("schema", {})
        try:
            values = self.compiler.compile(schema, f"{self.label} parameter {param['name']}")
        except Exception:
            values = st.text(alphabet="abcxyz019", min_size=1, max_size=8)
        if param["in"] == "path":
            return values.map(str).filter(lambda v: v != "" and v not in (".", ".."))
        if param["in"] == "header":
            return values.map(str).filter(
                lambda v: v.isascii() and v.isprintable() and v == v.strip()
            )
        return values.filter(_query_value)

    def valid(self) -> Any:
        """A strategy of (path params, query, headers, body) satisfying the schema."""
        from hypothesis import strategies as st

        from ..strategies import request_bodies

        parts = {}
        for where in ("path", "query", "header"):
            required: dict[str, Any] = {}
            optional: dict[str, Any] = {}
            for p in self.params:
                if p["in"] == where:
                    target = required if p.get("required") or where == "path" else optional
                    target[p["name"]] = self._param_strategy(p)
            parts[where] = st.fixed_dictionaries(required, optional=optional)
        body: Any = st.just(NO_BODY)
        if self.json_body:
            try:
                body = request_bodies(self.document, self.method, self.path)
            except Exception:
                body = st.just(NO_BODY)
        return st.tuples(parts["path"], parts["query"], parts["header"], body)

    def invalid_bodies(self) -> Any:
        from hypothesis import strategies as st

        from ..strategies import request_bodies

        if not self.json_body:
            return st.nothing()
        try:
            return request_bodies(self.document, self.method, self.path, valid=False)
        except Exception:
            return st.nothing()

    def invalid_params(self, query: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
        """(where, name, value) replacements the schema refuses; value NO_BODY = left out."""
        cases: list[tuple[str, str, Any]] = []
        for p in self.params:
            schema = self.schema_of(p["name"])
            types = self.compiler.types_of(schema) if isinstance(schema, Mapping) else None
            if types and types <= {"integer", "number"}:
                cases.append((p["in"], p["name"], "not-a-number"))
            elif isinstance(schema, Mapping) and "enum" in schema:
                cases.append((p["in"], p["name"], "not-a-member"))
            elif p["in"] == "query" and p.get("required"):
                cases.append(("query", p["name"], NO_BODY))
        return cases

    def plain(self, row: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """``row`` with each string parameter set to a plain word, or None if none takes it.

        Drawn strings start from the empty one, which routes often treat as
        "the root"; a plain word is what a person tries first.
        """
        path, query, headers, body = row
        path, query = dict(path), dict(query)
        changed = False
        for p in self.params:
            if p["in"] not in ("path", "query"):
                continue
            if p["in"] == "query" and not p.get("required") and p["name"] not in query:
                target = query
            else:
                target = path if p["in"] == "path" else query
            schema = self.schema_of(p["name"])
            if not isinstance(schema, Mapping) or "string" not in (
                self.compiler.types_of(schema) or {"string"}
            ):
                continue
            if self.compiler.validator(schema).is_valid("x"):
                target[p["name"]] = "x"
                changed = True
        return (path, query, headers, body) if changed else None

    def unknown_value(self, name: str) -> Any:
        schema = self.schema_of(name)
        if not isinstance(schema, Mapping) or "enum" in schema or "const" in schema:
            return None
        types = self.compiler.types_of(schema) or frozenset({"string"})
        if "integer" in types or "number" in types:
            value: Any = _UNKNOWN_INT
        elif schema.get("format") == "uuid":
            value = _UNKNOWN_UUID
        else:
            value = _UNKNOWN_STRING
        return value if self.compiler.validator(schema).is_valid(value) else None

    def accepts(self, name: str, value: Any) -> Any:
        """``value`` as a valid value of path parameter ``name``, or None."""
        schema = self.schema_of(name)
        validator = self.compiler.validator(schema if isinstance(schema, Mapping) else {})
        candidates = [value]
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            candidates.append(int(value))
        if isinstance(value, int) and not isinstance(value, bool):
            candidates.append(str(value))
        for candidate in candidates:
            if validator.is_valid(candidate):
                return candidate
        return None

    def url(self, path_params: Mapping[str, Any]) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1).split(":")[0]
            return quote(str(path_params.get(name, "")), safe="")

        return re.sub(r"\{([^}]+)\}", sub, self.path)

    def matcher(self) -> re.Pattern[str]:
        pattern = re.sub(
            r"\\\{([^}]+)\\\}", lambda m: f"(?P<{_group(m.group(1))}>[^/]+)", re.escape(self.path)
        )
        return re.compile(pattern + "$")


_PATH_NAMES = ("path", "file", "filename", "dir", "directory", "folder", "name", "key")


def _path_like(param: Mapping[str, Any], op: Operation) -> bool:
    """A parameter that names a file: by its name, or by its format."""
    name = str(param["name"]).lower()
    schema = op.schema_of(param["name"])
    if isinstance(schema, Mapping):
        types = op.compiler.types_of(schema)
        if types is not None and "string" not in types:
            return False
        if schema.get("format") in ("path", "file-path", "uri-reference"):
            return True
    words = re.split(r"[_\-]", name)
    return any(w in _PATH_NAMES for w in words) or name.endswith(_PATH_NAMES)


def _key(exchange: Exchange) -> str:
    return repr(
        (exchange.method, exchange.url_path, exchange.params, exchange.headers, exchange.body)
    )


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name.split(":")[0])


def _query_value(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return not isinstance(value, str) or value.isprintable()
    if isinstance(value, list):
        return all(isinstance(v, (str, int, float, bool)) for v in value)
    return False


class Pool:
    """Values the responses returned, by field name, in the order seen."""

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}

    def add(self, key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return
        if isinstance(value, str) and not (0 < len(value) <= 200):
            return
        seen = self._values.setdefault(key, [])
        if value not in seen:
            seen.append(value)

    def take(self, data: Any, depth: int = 0) -> None:
        if depth > 2:
            return
        if isinstance(data, Mapping):
            for key, value in data.items():
                if isinstance(value, (Mapping, list)):
                    self.take(value, depth + 1)
                else:
                    self.add(str(key), value)
        elif isinstance(data, list):
            for item in data[:5]:
                self.take(item, depth + 1)

    def for_param(self, name: str) -> list[Any]:
        values = list(self._values.get(name, []))
        if name.lower().endswith("id") or name in ("key", "name", "slug"):
            values += [v for v in self._values.get("id", []) if v not in values]
        return values[:2]

    def values(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self._values.items()}


class Exerciser:
    """Sends the exercise's requests through a started host and records the exchanges."""

    def __init__(
        self,
        host: Any,
        ev: Evidence,
        monitor: Any,
        examples: int,
        draws: dict[tuple[str, int], list[Any]] | None = None,
    ) -> None:
        self.host = host
        #: Draws by (operation, rounds): derandomised, so a replay reuses them.
        self.draws = {} if draws is None else draws
        self.ev = ev
        self.monitor = monitor
        self.valid_rounds = max(1, math.ceil(examples / 5))
        self.invalid_rounds = max(1, math.ceil(examples / 10))
        self.pool = Pool()
        self.raised: list[BaseException] = []
        self.exchanges: list[Exchange] = []
        self._sent: set[str] = set()
        #: Replays (store.round_trip): one valid draw, no unknown ids or invalid input.
        self.light = False
        _catch_exceptions(host.app, self.raised)

    # -- sending ----------------------------------------------------------------

    async def send(self, exchange: Exchange, op: Operation | None = None) -> Exchange | None:
        key = _key(exchange)
        if key in self._sent or (op is not None and op.hung):
            return None
        self._sent.add(key)
        del self.raised[:]
        what = f"{exchange.method} {exchange.url_path}"
        self.monitor.during = what
        kwargs: dict[str, Any] = {}
        if exchange.params:
            kwargs["params"] = exchange.params
        if exchange.headers:
            kwargs["headers"] = exchange.headers
        if exchange.body is not NO_BODY:
            kwargs["json"] = exchange.body
        from ._audit import recording

        try:
            # The host's transport cuts a hanging route after the time-out and
            # names the frame it waits in (a PluginTimeoutError).
            with recording(exchange.files):
                response = await self.host.client.request(
                    exchange.method, f"http://testserver{exchange.url_path}", **kwargs
                )
        except PluginTimeoutError as exc:
            exchange.problem = str(exc)
            if op is not None:
                op.hung = True
        except (Exception, SystemExit) as exc:
            exchange.problem = f"{what} raised {describe_exception(exc)}"
        else:
            exchange.status = response.status_code
            exchange.text = response.text
            exchange.content_type = response.headers.get("content-type", "")
            exchange.location = response.headers.get("location")
            if op is not None:
                exchange.response_schema = op.response_schema(response.status_code)
                exchange.document = op.document
            headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            self.ev.responses.append((what, f"{headers}\n{response.text}"))
        if self.raised:
            error = self.raised[-1]
            cause = error.__cause__ or error.__context__
            exchange.raised = describe_exception(error) + (
                f" (while handling {describe_exception(cause)})" if cause is not None else ""
            )
            exchange.frames = plugin_frames(error, self.ev.directory)
            if self.ev.masker.contains_secret(exchange.raised):
                self.ev.leaks.append(
                    f"exception message ({what}): {self.ev.masker(exchange.raised)[:300]}"
                )
            if cause is not None and not exchange.frames.strip():
                exchange.frames = plugin_frames(cause, self.ev.directory)
        if exchange.kind != "traversal":  # judged by security.filesystem only
            self.exchanges.append(exchange)
        return exchange

    def _exchange(
        self, op: Operation, kind: str, path: Mapping[str, Any], query: Any, headers: Any, body: Any
    ) -> Exchange:
        return Exchange(
            op.method,
            op.url(path),
            op.path,
            self.ev.prefix,
            kind,
            params=dict(query),
            headers={k: str(v) for k, v in dict(headers).items()},
            body=body,
        )

    def learn(self, exchange: Exchange | None, ops: list[Operation]) -> None:
        if exchange is None or exchange.status is None or not 200 <= exchange.status < 300:
            return
        self.pool.take(exchange.json())
        if exchange.location:
            target = urlsplit(exchange.location).path
            for op in ops:
                match = op.matcher().match(target)
                if match:
                    for name in op.path_params:
                        self.pool.add(name, match.groupdict().get(_group(name)))

    # -- the two probes -----------------------------------------------------------

    async def plain_gets(self) -> list[Exchange]:
        """GET of every route without path parameters (``routes.get_ok``)."""
        out = []
        for method, path in self.ev.routes:
            if method != "GET" or "{" in path:
                continue
            sent = await self.send(Exchange("GET", path, path, self.ev.prefix, "valid"))
            if sent is not None:
                out.append(sent)
        return out

    def operations(self) -> list[Operation]:
        document = self.ev.openapi.value if self.ev.openapi else None
        if not isinstance(document, Mapping):
            return []
        ops = []
        for path, item in (document.get("paths") or {}).items():
            for method, spec in item.items():
                if method in _METHODS and isinstance(spec, Mapping):
                    try:
                        ops.append(Operation(document, method.upper(), path, spec))
                    except Exception:  # a schema the compiler cannot read: not exercised
                        continue
        return sorted(ops, key=lambda o: (bool(o.path_params), _ORDER[o.method], o.path))

    async def run(self) -> list[Exchange]:
        async for _ in self.iterate():
            pass
        return self.exchanges

    async def iterate(self) -> AsyncIterator[Exchange]:
        """Send the exercise's requests in order, yielding each exchange once answered."""
        from hypothesis import strategies as st

        from ._probes import draw

        ops = self.operations()
        if not ops:
            return
        rounds = 1 if self.light else self.valid_rounds
        # One draw per operation: a shared draw repeats values across operations.
        drawn = [(op, list(self._draw(op, rounds))) for op in ops]
        # An operation nothing satisfies (an empty schema) is not exercised.
        ops = [op for op, rows in drawn if rows]
        valid = [rows for _, rows in drawn if rows]
        for rows, op in zip(valid, ops, strict=True):
            plain = op.plain(rows[0])
            if plain is not None and not self.light:
                rows.append(plain)
        # 1. operations without path parameters (create, list), drawn input.
        for op_index, op in enumerate(ops):
            if not op.path_params:
                for row in valid[op_index]:
                    sent = await self.send(self._exchange(op, "valid", *row), op)
                    if sent is not None:
                        self.learn(sent, ops)
                        yield sent
        # 2. operations fed the values responses returned (path and query
        #    parameters of the same name, ids): read, update, act, delete, then
        #    read again.
        for stage, method in enumerate(("GET", "PUT", "PATCH", "POST", "DELETE", "GET")):
            for op_index, op in enumerate(ops):
                if op.method != method:
                    continue
                path, query, headers, body = valid[op_index][0]
                for fed_path, fed_query in self._assignments(op, path, query):
                    exchange = self._exchange(op, "state", fed_path, fed_query, headers, body)
                    if stage == 5:
                        self._sent.discard(_key(exchange))  # read again after the delete
                    sent = await self.send(exchange, op)
                    if sent is not None:
                        self.learn(sent, ops)
                        yield sent
        with_ids = [(i, op) for i, op in enumerate(ops) if op.path_params]
        first = [rows[0] for rows in valid]
        # 3. drawn ids, then an id no response returned.
        for op_index, op in with_ids:
            for row in valid[op_index]:
                sent = await self.send(self._exchange(op, "valid", *row), op)
                if sent is not None:
                    yield sent
            if self.light:
                continue
            path, query, headers, body = first[op_index]
            unknown = {name: op.unknown_value(name) for name in op.path_params}
            if None not in unknown.values():
                sent = await self.send(
                    self._exchange(op, "unknown", unknown, query, headers, body), op
                )
                if sent is not None:
                    yield sent
        if self.light:
            return
        # 4. invalid input: bodies and parameters the schema refuses.
        invalid_bodies = draw(
            st.tuples(*(st.one_of(op.invalid_bodies(), st.just(NO_BODY)) for op in ops)),
            self.invalid_rounds,
            self.monitor,
        )
        for op_index, op in enumerate(ops):
            path, query, headers, body = first[op_index]
            for row in invalid_bodies:
                bad = row[op_index]
                if bad is not NO_BODY:
                    sent = await self.send(
                        self._exchange(op, "invalid", path, query, headers, bad), op
                    )
                    if sent is not None:
                        yield sent
            for where, name, value in op.invalid_params(query):
                p, q, h = dict(path), dict(query), dict(headers)
                target = {"path": p, "query": q, "header": h}[where]
                if value is NO_BODY:
                    target.pop(name, None)
                else:
                    target[name] = value
                sent = await self.send(self._exchange(op, "invalid", p, q, h, body), op)
                if sent is not None:
                    yield sent

    async def traversals(self) -> list[Exchange]:
        """Path-like parameters sent ``../`` chains, absolute paths, encoded forms,
        NUL, and a sibling of the plugin's data directory whose name starts with
        the directory's name (a ``startswith`` check lets it through)."""
        import shutil
        from pathlib import Path

        from ._audit import data_roots

        ops = self.operations()
        if not ops:
            return []
        writes = list(self.ev.start_files)
        for x in self.exchanges:
            if x.kind in ("valid", "state") and x.status is not None and x.status < 400:
                writes += x.files
        self.ev.data_roots = data_roots(writes, self.ev.directory)
        # System files only for reads: a vulnerable DELETE must not delete them.
        reads = [
            "../../../../../../../../etc/passwd",
            "/etc/passwd",
            "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
            "....//....//....//....//etc/passwd",
        ]
        payloads = ["x\x00.txt"]
        siblings = []
        for root in self.ev.data_roots[:2]:
            base = Path(root)
            sibling = base.with_name(base.name + "-nexus-sibling")
            if sibling.exists():
                continue
            try:
                sibling.mkdir()
                (sibling / "secret.txt").write_text("outside the plugin's data directory\n")
            except OSError:
                continue
            siblings.append(sibling)
            payloads += [f"../{sibling.name}/secret.txt", str(sibling / "secret.txt")]
        sent: list[Exchange] = []
        try:
            for op in ops:
                rows = self._draw(op, self.valid_rounds)
                if not rows:
                    continue
                path, query, headers, body = rows[0]
                for p in op.params:
                    if p["in"] not in ("path", "query") or not _path_like(p, op):
                        continue
                    for payload in [*(reads if op.method == "GET" else []), *payloads]:
                        fed_path, fed_query = dict(path), dict(query)
                        (fed_path if p["in"] == "path" else fed_query)[p["name"]] = payload
                        exchange = self._exchange(
                            op, "traversal", fed_path, fed_query, headers, body
                        )
                        result = await self.send(exchange, op)
                        if result is not None:
                            sent.append(result)
        finally:
            for sibling in siblings:
                shutil.rmtree(sibling, ignore_errors=True)
        return sent

    def _draw(self, op: Operation, rounds: int) -> list[Any]:
        from ._probes import draw

        key = (op.label, rounds)
        if key not in self.draws:
            self.draws[key] = draw(op.valid(), rounds, self.monitor) or []
        return self.draws[key]

    def _assignments(
        self, op: Operation, path: Mapping[str, Any], query: Mapping[str, Any]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Parameters fed from the pool, one assignment per value seen (at most two).

        Every path parameter needs a value seen; query parameters take one when
        there is, else keep the drawn value.  No assignment without a fed value.
        """
        fed: list[tuple[str, str, list[Any]]] = []
        for p in op.params:
            if p["in"] not in ("path", "query"):
                continue
            name = p["name"]
            values = [
                v for v in (op.accepts(name, x) for x in self.pool.for_param(name)) if v is not None
            ]
            if values:
                fed.append((p["in"], name, values))
            elif p["in"] == "path":
                return []
        if not fed:
            return []
        count = max(len(values) for _, _, values in fed)
        out = []
        for i in range(count):
            fed_path, fed_query = dict(path), dict(query)
            for where, name, values in fed:
                (fed_path if where == "path" else fed_query)[name] = values[min(i, len(values) - 1)]
            out.append((fed_path, fed_query))
        return out


def _catch_exceptions(app: Any, sink: list[BaseException]) -> None:
    """Record what a route raised behind a 500 (or a 5xx HTTPException it raised)."""
    if getattr(app, "_nexus_contract_sink", None) is not None:
        app._nexus_contract_sink = sink
        return
    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException
    from starlette.responses import PlainTextResponse

    app._nexus_contract_sink = sink

    async def on_error(request: Any, exc: Exception) -> Any:
        app._nexus_contract_sink.append(exc)
        return PlainTextResponse("Internal Server Error", status_code=500)

    async def on_http(request: Any, exc: Any) -> Any:
        if exc.status_code >= 500:
            app._nexus_contract_sink.append(exc)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(Exception, on_error)
    app.add_exception_handler(HTTPException, on_http)
    # The middleware stack was built by the first (lifespan) call: build it
    # again with the handlers on the next request.
    app.middleware_stack = None
