"""The storage-fidelity replay behind ``store.round_trip``.

The exercise runs under the default configuration and a few drawn valid
ones, each twice on a ``memory`` store and once on an ``sql`` store (values
round-trip as through nexus-platform's SQLAlchemyAdapter: ``False`` reads back
as ``"False"``).  Draws are derandomised, so the three runs send the same
requests.  What differs between the two memory runs (ids, timestamps,
counters) is noise; what differs between memory and sql beyond that, and
again in a second sql run, is a finding, named by the store keys whose
values came back changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._describe import describe_exception
from .._errors import PluginLoadError, PluginStartError
from ..fakes._store import sql_round_trip
from ._evidence import NO_BODY

if TYPE_CHECKING:
    from ._probes import Session

__all__ = ["replay"]

#: Drawn valid configurations replayed besides the default one.
_DRAWN_CONFIGS = 2
_SAME: Any = object()


@dataclass
class _Run:
    requests: list[str] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    #: (request index, key, value set, value read back) of sets the round trip changes.
    changed: list[tuple[int, str, Any, Any]] = field(default_factory=list)
    #: Why the plugin did not start on this store.
    start_problem: str | None = None


async def _run(session: Session, config: Mapping[str, Any], fidelity: str) -> _Run:
    from ._exercise import Exerciser

    host = session.host(config, fidelity=fidelity)
    session.monitor.during = f"initialize() on a {fidelity} store"
    try:
        await host.start()
    except (PluginStartError, PluginLoadError) as exc:
        failed = _Run(start_problem=getattr(exc, "problem", None) or str(exc))
        failed.changed = _changed(host.data_store.operations, 0)
        return failed
    try:
        exerciser = Exerciser(
            host, session.ev, session.monitor, session.settings.examples, session.draws
        )
        exerciser.light = True
        run = _Run()
        store = host.data_store
        seen_ops = 0
        async for exchange in exerciser.iterate():
            index = len(run.requests)
            run.requests.append(exchange.call())
            body = exchange.json()
            run.answers.append(
                {"status": exchange.status, "body": exchange.text if body is NO_BODY else body}
            )
            run.changed += _changed(list(store.operations)[seen_ops:], index)
            seen_ops = len(store.operations)
        run.events = [(e.name, e.data) for e in host.event_bus.published]
    finally:
        session.monitor.during = f"shutdown() on a {fidelity} store"
        await host.aclose()
    return run


def _changed(operations: Any, index: int) -> list[tuple[int, str, Any, Any]]:
    """The sets among ``operations`` whose value an SQL store does not give back."""
    out = []
    for op in operations:
        if op.op == "set" and op.key is not None:
            try:
                back = sql_round_trip(op.value)
            except (TypeError, ValueError) as exc:  # the SQL adapter's set raises
                back = _Unstorable(exc)
            if back != op.value:
                out.append((index, op.key, op.value, back))
    return out


class _Unstorable:
    """What an SQL store makes of a value json.dumps refuses: an error, not a value."""

    def __init__(self, exc: BaseException) -> None:
        self.text = describe_exception(exc)

    def __repr__(self) -> str:
        return f"nothing: set() raises {self.text}"


def _describe(key: str, value: Any, back: Any) -> str:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f"{key} ({shown} read back as {back!r})"


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths (``/items/0/active``) at which ``a`` and ``b`` differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key, _SAME), b.get(key, _SAME), f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += _differences(x, y, f"{path}/{i}")
        return out
    return [] if a == b and type(a) is type(b) else [path or "/"]


def _at(value: Any, path: str) -> Any:
    for part in [p for p in path.split("/") if p]:
        if isinstance(value, Mapping):
            value = value.get(part, _SAME)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _SAME
    return value


def _noisy(path: str, noise: set[str]) -> bool:
    return any(path == n or path.startswith(n + "/") for n in noise)


async def replay(session: Session) -> None:
    from hypothesis.errors import InvalidArgument

    from ..strategies import configs

    ev = session.ev
    manifest = ev.manifest
    candidates: list[dict[str, Any]] = [dict(ev.valid_config)]
    if manifest.configuration:
        try:
            drawn = session.draw(configs(manifest, **ev.secret_values), _DRAWN_CONFIGS + 1)
        except InvalidArgument:
            drawn = []
        for config in drawn:
            full = {**ev.valid_config, **config}
            if full not in candidates:
                candidates.append(full)
    differences: list[str] = []
    reported: set[tuple[str, str]] = set()
    changed: dict[str, str] = {}
    for config in candidates[: 1 + _DRAWN_CONFIGS]:
        first = await _run(session, config, "memory")
        second = await _run(session, config, "memory")
        sql = await _run(session, config, "sql")
        label = "" if config == ev.valid_config else f" (configuration {config!r})"
        if first.start_problem or second.start_problem:
            continue  # config.valid and lifecycle.initialize report it
        if sql.start_problem and ("start", sql.start_problem) in reported:
            continue  # the same failure under another configuration
        if sql.start_problem:
            reported.add(("start", sql.start_problem))
            # A set the SQL adapter refuses raises before it is recorded: name the
            # values the memory run stored that an SQL store cannot give back.
            suspects = sql.changed or first.changed
            named = ", ".join(_describe(k, v, b) for _, k, v, b in suspects) or "no key written"
            differences.append(
                f"initialize(){label} starts on a memory store but not on an sql store: "
                f"{sql.start_problem}; changed by the round trip: {named}"
            )
            continue
        ev.round_trip_runs += 1
        for _index, key, value, back in sql.changed:
            changed.setdefault(key, _describe(key, value, back))
        # A second sql run, made only once a difference is seen, confirms it:
        # a timing value (an uptime, a timestamp) can by chance be equal in the
        # two memory runs, but then it is seldom also equal in two sql runs.
        again: _Run | None = None
        for what, a_list, b_list, c_list in (
            ("answer", first.answers, second.answers, sql.answers),
            ("event", first.events, second.events, sql.events),
        ):
            for i, (a, b, c) in enumerate(zip(a_list, b_list, c_list, strict=False)):
                noise = set(_differences(a, b))
                visible = [p for p in _differences(a, c) if not _noisy(p, noise)]
                if visible and again is None:
                    again = await _run(session, config, "sql")
                if visible and again is not None and not again.start_problem:
                    d_list = again.answers if what == "answer" else again.events
                    d = d_list[i] if i < len(d_list) else _SAME
                    noise |= set(_differences(c, d))
                    visible = [p for p in visible if not _noisy(p, noise)]
                if not visible:
                    continue
                path = visible[0]
                if what == "answer":
                    where = first.requests[i] if i < len(first.requests) else "?"
                    names = [k for (j, k, _, _) in sql.changed if j <= i]
                else:
                    where = f"published {a[0]!r}" if isinstance(a, tuple) else "an event"
                    names = [k for (_, k, _, _) in sql.changed]
                named = ", ".join(changed[k] for k in dict.fromkeys(names)) or "no key written"
                if (where, path) in reported:
                    break
                reported.add((where, path))
                differences.append(
                    f"{where}{label}: {path.lstrip('/').replace('/', '.') or 'the value'} is "
                    f"{_at(a, path)!r} on a memory store, {_at(c, path)!r} on an sql store; "
                    f"changed by the round trip: {named}"
                )
                break
    ev.round_trip_differences = list(dict.fromkeys(differences))
    shown = " ".join(ev.round_trip_differences)
    ev.round_trip_changed = [text for key, text in changed.items() if key not in shown]
