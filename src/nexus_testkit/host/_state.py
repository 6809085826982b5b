"""What a plugin changed in the process it shares: state, threads, subprocesses.

A :class:`ProcessWatch` is on from a plugin's import to its last call.  It
finds three things:

- **process state** the plugin changed: the working directory, environment
  variables, ``sys.stdout``/``sys.stderr`` (replaced or closed), signal
  handlers, the recursion limit, ``gc``, ``logging.disable``, the event-loop
  policy, entries of ``sys.modules`` that existed and were replaced or
  removed (a first import is not a change; the plugin's own modules are its
  business), and functions or classes of ``asyncio``, ``httpx``, ``nexus``
  and the harness's own modules (module attributes and class attributes)
  that were replaced.  ``os.chdir``, ``os.putenv`` and ``os.unsetenv`` raise
  audit events, which give the plugin's file:line even from a background
  task; the rest has no audit event on CPython 3.11 and is found by
  comparing snapshots taken before and after each call into the plugin
  (:meth:`ProcessWatch.call`), which names the call.  Only the calls are
  compared: what the test itself changes between them (``monkeypatch``, an
  HTTP-mocking fixture) is never the plugin's.
- **threads** the plugin started (new threads after a call into it, or running
  the plugin's code at the end: CPython 3.11 has no audit event for a new
  thread) that are still running at the end;
  the event loop's default executor and anyio's worker threads are not the
  plugin's.  They are marked so that they cannot keep the process alive.
- **subprocesses** it started (``subprocess.Popen``, ``os.system``,
  ``os.exec*``, ``os.posix_spawn``, ``os.spawn*``), with their command line;
  those still running at the end are killed (Linux: every process below this
  one that was not there at the start).

:meth:`ProcessWatch.restore` puts the changed state back (fixture-based tests
do that when the host closes).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module under signal; no stub
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._audithook import listen, plugin_site

__all__ = ["ProcessWatch", "StateChange", "shared_watch"]

_MODULE_PREFIXES = ("asyncio", "httpx", "nexus", "nexus_testkit", "pytest_nexus")
_SPAWN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")
_STATE_EVENTS = ("os.chdir", "os.putenv", "os.unsetenv")
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
_SIGNALS = tuple(s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP))
#: (name, number): read with _signal.getsignal, which returns SIG_DFL/SIG_IGN as the
#: plain integers where signal.getsignal builds an enum member for each, on every
#: call into the plugin.
_SIGNAL_NUMBERS = tuple((s.name, int(s)) for s in _SIGNALS)


@dataclass
class StateChange:
    """One change of process state: what, from which value, where or in which call."""

    key: tuple[str, ...]
    before: Any
    after: Any
    where: str = ""
    call: str = ""

    def describe(self) -> str:
        text = _describe(self.key, self.before, self.after)
        if self.where:
            return f"{text} at {self.where}"
        return f"{text} in {self.call}" if self.call else text


@dataclass
class Spawned:
    """A subprocess the plugin started."""

    command: str
    where: str
    call: str


@dataclass
class LeftThread:
    name: str
    daemon: bool
    #: The call it was started in ("" when started between calls, by a task or a thread).
    call: str
    #: Where it was running at the end (its innermost frame in the plugin's files).
    where: str

    def describe(self) -> str:
        kind = "daemon thread" if self.daemon else "thread"
        started = f" started in {self.call}" if self.call else ""
        running = f", running at {self.where}" if self.where else ""
        return f"{kind} {self.name!r}{started}{running}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name(value: Any) -> str:
    if value is None:
        return "None"
    if type(value) is int:  # _signal.getsignal's SIG_DFL and SIG_IGN
        return {int(signal.SIG_DFL): "SIG_DFL", int(signal.SIG_IGN): "SIG_IGN"}.get(
            value, str(value)
        )
    qual = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{qual}" if isinstance(value, type) or callable(value) else type(value).__qualname__


def _describe(key: tuple[str, ...], before: Any, after: Any) -> str:
    kind = key[0]
    if kind == "cwd":
        return f"the working directory changed from {before!r} to {after!r}"
    if kind == "env":
        if before is _MISSING:
            return f"environment variable {key[1]} set to {_short(after)}"
        if after is _MISSING:
            return f"environment variable {key[1]} removed"
        return f"environment variable {key[1]} changed from {_short(before)} to {_short(after)}"
    if kind == "stream":
        was, closed = after
        if was is before[0] and closed:
            return f"sys.{key[1]} closed"
        return f"sys.{key[1]} replaced by {_short(was)}" + (" (closed)" if closed else "")
    if kind == "signal":
        return f"the handler of {key[1]} replaced ({_name(before)} -> {_name(after)})"
    if kind == "recursion":
        return f"the recursion limit changed from {before} to {after}"
    if kind == "gc":
        if before[0] != after[0]:
            return "garbage collection " + ("enabled" if after[0] else "disabled")
        return f"the gc thresholds changed from {before[1]} to {after[1]}"
    if kind == "logging.disable":
        return f"logging.disable({after}) (was {before})"
    if kind == "policy":
        return f"the event-loop policy replaced by {_name(after)}"
    if kind == "sys.modules":
        if after is _MISSING:
            return f"sys.modules[{key[1]!r}] removed"
        return f"sys.modules[{key[1]!r}] replaced by {_short(after)}"
    if kind == "attr":
        if after is _MISSING:
            return f"{key[1]} deleted"
        return f"{key[1]} replaced by {_name(after)}"
    return f"{key} changed"


def _same(key: tuple[str, ...], before: Any, after: Any) -> bool:
    if key[0] in ("attr", "sys.modules", "policy", "signal"):
        return before is after
    if key[0] == "stream":
        return bool(before[0] is after[0] and before[1] == after[1])
    return bool(before == after)


def _stream_state(stream: Any) -> tuple[Any, bool]:
    try:
        closed = bool(getattr(stream, "closed", False))
    except Exception:  # a replaced stream may be anything
        closed = False
    return stream, closed


class _Memo:
    """What one snapshot leaves for the next, kept on an instance.

    Rebinding a module global would change this module's namespace, which
    the watch itself compares on every call into the plugin.
    """

    def __init__(self) -> None:
        #: (len(sys.modules), watched namespaces) of the last walk.
        self.namespaces: tuple[int, list[tuple[str, Any]]] = (-1, [])
        #: The module names of sys.modules at the last walk.
        self.module_names: set[str] = set()
        #: (namespaces, copies, live views) of the last snapshot, for the next one.
        self.last_copies: tuple[list[tuple[str, Any]], list[dict[str, Any]], list[Any]] | None = (
            None
        )
        #: A copy of os.environ's raw (encoded) data.
        self.environ: dict[Any, Any] = {}


_memo = _Memo()


def _watched_namespaces() -> list[tuple[str, Any]]:
    """(label, object) of the modules and classes whose attributes are watched.

    Recomputed only when a module was imported or removed since the last call:
    walking every module's classes is the costly part of a snapshot.
    """
    memo = _memo
    count = len(sys.modules)
    if memo.namespaces[0] == count:
        return memo.namespaces[1]
    dotted = tuple(p + "." for p in _MODULE_PREFIXES)
    names = set(sys.modules)
    if memo.namespaces[0] >= 0:
        # Only the plugin's own modules came or went (each host imports it again):
        # the same list.  The names that came or went are found by set operations
        # in C; walking every name of sys.modules was most of a test's watch.
        moved = names ^ memo.module_names
        if not any(n in _MODULE_PREFIXES or n.startswith(dotted) for n in moved):
            memo.namespaces, memo.module_names = (count, memo.namespaces[1]), names
            return memo.namespaces[1]
    found: list[tuple[str, Any]] = []
    for name, module in list(sys.modules.items()):
        if not (name in _MODULE_PREFIXES or name.startswith(dotted)):
            continue
        if module is None:
            continue
        try:
            attrs = vars(module)
        except TypeError:
            continue
        found.append((name, module))
        for value in list(attrs.values()):
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                found.append((f"{name}.{value.__qualname__}", value))
    memo.namespaces, memo.module_names = (count, found), names
    return found


def _namespace_changes(
    label: str, before: dict[str, Any], after: dict[str, Any]
) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    for attr, value in before.items():
        if attr.startswith("__") and attr != "__init__":
            continue
        if not (callable(value) or isinstance(value, type)):
            continue  # module-level data (counters, caches) is not an API to replace
        new = after.get(attr, _MISSING)
        if new is not value:
            yield ("attr", f"{label}.{attr}"), value, new


def snapshot(own_package: str | None = None) -> dict[tuple[str, ...], Any]:
    """The process state a plugin must not change, as key -> value (a full copy; the
    watch compares the live state to it with :func:`refresh`)."""
    state = _small_state()
    state[("small",)] = dict(state)
    state[("environ",)] = _environ()
    state[("modules",)] = dict(sys.modules)
    spaces = _watched_namespaces()
    last = _memo.last_copies
    if last is not None and last[0] is spaces:
        # The copies the previous watch started from, where they still equal the
        # live dictionaries (each test's host starts a watch: copying a few hundred
        # namespaces every time was most of its cost).  The list is this watch's
        # own; the dictionaries in it are only ever replaced, never changed.
        copies, views = list(last[1]), last[2]
        try:
            differ = [i for i, (c, v) in enumerate(zip(copies, views, strict=True)) if c != v]
        except Exception:  # a value whose __eq__ raises: copy them all
            differ = list(range(len(copies)))
        for i in differ:
            copies[i] = dict(views[i])
    else:
        views = [vars(namespace) for _, namespace in spaces]
        copies = [dict(view) for view in views]
    for (label, namespace), copy in zip(spaces, copies, strict=True):
        state[("ns", label)] = (namespace, copy)
    state[("ns*",)] = (spaces, copies, views)
    _memo.last_copies = (spaces, list(copies), views)
    return state


def _environ() -> dict[Any, Any]:
    """A copy of ``os.environ``'s raw (encoded) data, made again only when it changed.

    pytest sets ``PYTEST_CURRENT_TEST`` in every phase of every test: decoding
    every variable each time cost a few Python calls per variable, on every
    call into the plugin.  Comparing raw dictionaries is one comparison in C;
    only the variables that differ are decoded (:func:`_env_changes`).  The
    copy returned is shared: callers must not change it.
    """
    data = getattr(os.environ, "_data", None)
    if data is None:  # not CPython's os._Environ
        return dict(os.environ)
    if _memo.environ != data:
        _memo.environ = dict(data)
    return _memo.environ


def _decode(text: Any, how: str) -> Any:
    if not isinstance(text, bytes):
        return text
    decoder = getattr(os.environ, how, None)
    return decoder(text) if decoder is not None else os.fsdecode(text)


def _env_changes(
    before: dict[Any, Any], after: dict[Any, Any]
) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """(("env", NAME), old, new) of each variable that differs, decoded as os.environ does."""
    try:
        moved = {name for name, _ in before.items() ^ after.items()}
    except TypeError:  # not bytes nor str: compare them all
        moved = {*before, *after}
    for raw in sorted(moved, key=repr):
        old, new = before.get(raw, _MISSING), after.get(raw, _MISSING)
        if old != new:
            yield (
                ("env", _decode(raw, "decodekey")),
                old if old is _MISSING else _decode(old, "decodevalue"),
                new if new is _MISSING else _decode(new, "decodevalue"),
            )


def _small_state() -> dict[tuple[str, ...], Any]:
    """What is compared around every call, the environment aside (see :func:`_environ`)."""
    state: dict[tuple[str, ...], Any] = {}
    try:
        state[("cwd",)] = os.getcwd()
    except OSError:
        state[("cwd",)] = None
    state[("stream", "stdout")] = _stream_state(sys.stdout)
    state[("stream", "stderr")] = _stream_state(sys.stderr)
    for name, number in _SIGNAL_NUMBERS:
        try:
            state[("signal", name)] = _signal.getsignal(number)
        except (ValueError, OSError):
            continue
    state[("recursion",)] = sys.getrecursionlimit()
    state[("gc",)] = (gc.isenabled(), gc.get_threshold())
    state[("logging.disable",)] = logging.root.manager.disable
    state[("policy",)] = asyncio.events._event_loop_policy  # type: ignore[attr-defined]
    return state


def _comes_from(value: Any, roots: tuple[str, ...]) -> bool:
    """Whether ``value`` (a function, method, class or module) was defined in ``roots``."""
    try:
        target = getattr(value, "__func__", value)  # a method
        target = getattr(target, "func", target)  # functools.partial
        code = getattr(target, "__code__", None)
        if code is not None:
            where = code.co_filename
        elif isinstance(target, type):
            where = getattr(sys.modules.get(target.__module__), "__file__", None) or ""
        else:
            where = getattr(target, "__file__", None) or ""
    except Exception:  # whatever the plugin put there
        return False
    where = os.path.abspath(where) if where else ""
    return bool(where) and any(where.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:  # a value whose __eq__ raises
        return False


def refresh(
    base: dict[tuple[str, ...], Any], own: str | None, *, full: bool = True
) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """(key, before, after) of each change from ``base`` to the live state; ``base`` is
    brought up to date in place.  Namespaces and ``sys.modules`` are compared to the live
    dictionaries (one comparison in C each) and copied only when they changed, which keeps
    a call into the plugin cheap.  ``full=False`` compares the small state only (the
    working directory, environment, streams, signals, ...): a few microseconds, where
    the namespaces take a tenth of a millisecond."""
    env_before, env_after = base.get(("environ",), _MISSING), _environ()
    if env_before is not env_after and env_before != env_after:
        # Reported per variable, as ("env", NAME): what _record, _describe and
        # _restore work with.
        yield from _env_changes(env_before if env_before is not _MISSING else {}, env_after)
    base[("environ",)] = env_after
    # The environment changes in every phase of a test (PYTEST_CURRENT_TEST), the
    # rest seldom: compared at once first, key by key only when it differs.
    small = _small_state()
    if not _equal(base.get(("small",)), small):
        for key, value in list(base.items()):
            kind = key[0]
            if kind in ("modules", "ns", "ns*", "small", "environ"):
                continue
            after = small.get(key, _MISSING)
            if not _same(key, value, after):
                yield key, value, after
                if after is _MISSING:
                    del base[key]
        base.update(small)
        base[("small",)] = small
    if not full:
        return
    modules = base.get(("modules",))
    if modules is not None and not _equal(modules, sys.modules):
        # Only the entries that were removed or replaced, found by a set operation
        # in C (each host imports the plugin's modules, so the two always differ).
        try:
            gone = sorted(modules.items() - sys.modules.items(), key=_first)
        except TypeError:  # an unhashable value in sys.modules: look at them all
            gone = list(modules.items())
        for name, module in gone:
            new = sys.modules.get(name, _MISSING)
            if new is module or name.startswith("_nexus_plugin_"):
                continue  # a plugin's own modules: the harness loads and unloads them
            if own is not None and (name + ".").startswith(own):
                continue
            yield ("sys.modules", name), module, new
        base[("modules",)] = dict(sys.modules)
    spaces = _watched_namespaces()
    fast = base.get(("ns*",))
    if fast is not None and fast[0] is spaces:
        # The same namespaces as last time: each copy is compared with its live
        # dictionary in one pass (a few hundred of them, on every call into the
        # plugin), and only those that differ are walked attribute by attribute.
        copies, views = fast[1], fast[2]
        try:
            differ = [i for i, (c, v) in enumerate(zip(copies, views, strict=True)) if c != v]
        except Exception:  # a value whose __eq__ raises: walk them all
            differ = list(range(len(spaces)))
        for i in differ:
            label, namespace = spaces[i]
            live = views[i]
            yield from _namespace_changes(label, copies[i], live)
            copies[i] = dict(live)
            base[("ns", label)] = (namespace, copies[i])
        return
    for label, namespace in spaces:
        live = vars(namespace)
        entry = base.get(("ns", label))
        if entry is None or entry[0] is not namespace:
            base[("ns", label)] = (namespace, dict(live))  # new (a first import)
            continue
        if _equal(entry[1], live):
            continue
        yield from _namespace_changes(label, entry[1], live)
        base[("ns", label)] = (namespace, dict(live))
    # (the namespaces, their copies, their live views) for the pass above
    copies = [base[("ns", label)][1] for label, _ in spaces]
    base[("ns*",)] = (spaces, copies, [vars(namespace) for _, namespace in spaces])


def _restore(key: tuple[str, ...], value: Any) -> None:
    kind = key[0]
    if kind == "cwd" and value is not None:
        os.chdir(value)
    elif kind == "env":
        if value is _MISSING:
            os.environ.pop(key[1], None)
        else:
            os.environ[key[1]] = value
    elif kind == "stream":
        setattr(sys, key[1], value[0])
    elif kind == "signal":
        if threading.current_thread() is threading.main_thread() and value is not None:
            signal.signal(signal.Signals[key[1]], value)
    elif kind == "recursion":
        sys.setrecursionlimit(value)
    elif kind == "gc":
        (gc.enable if value[0] else gc.disable)()
        gc.set_threshold(*value[1])
    elif kind == "logging.disable":
        logging.disable(value)
    elif kind == "policy":
        asyncio.set_event_loop_policy(value)
    elif kind == "sys.modules":
        if value is _MISSING:
            sys.modules.pop(key[1], None)
        else:
            sys.modules[key[1]] = value
    elif kind == "attr":
        _restore_attr(key[1], value)


def _restore_attr(path: str, value: Any) -> None:
    # The longest module name the path starts with, then attributes down from it.
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        target: Any = module
        for part in parts[i:-1]:
            target = getattr(target, part)
        if value is _MISSING:
            with contextlib.suppress(AttributeError):
                delattr(target, parts[-1])
        else:
            setattr(target, parts[-1], value)
        return


class _Listener:
    """The audit-event side of every open watch (one listener, registered once).

    One instance, not class attributes: the harness's classes are among the
    namespaces a watch compares, and one whose attributes change must be walked.
    """

    def __init__(self) -> None:
        self.watches: list[ProcessWatch] = []
        self.registered = False

    def add(self, watch: ProcessWatch) -> None:
        if not self.registered:
            listen((*_SPAWN_EVENTS, *_STATE_EVENTS), self.on_event)
            self.registered = True
        self.watches.append(watch)

    def remove(self, watch: ProcessWatch) -> None:
        self.watches = [w for w in self.watches if w is not watch]

    def on_event(self, event: str, args: tuple[Any, ...]) -> None:
        for watch in tuple(self.watches):
            watch._event(event, args)


_listener = _Listener()


@dataclass
class ProcessWatch:
    """Watches one plugin (files under ``root``) from its import to its last call."""

    root: str
    own_package: str | None = None
    #: A contract run's watch: the hosts it builds for the plugin use it instead of their own.
    shared: bool = False
    #: More plugin directories (a host of several plugins watches them all).
    more_roots: tuple[str, ...] = ()
    changes: list[StateChange] = field(default_factory=list)
    spawned: list[Spawned] = field(default_factory=list)
    #: Processes still running at :meth:`finish`, killed: ``pid N: command (started at ...)``.
    killed: list[str] = field(default_factory=list)
    threads_left: list[LeftThread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._baseline: dict[tuple[str, ...], Any] = {}
        self._original: dict[tuple[str, ...], Any] = {}
        self._located: dict[tuple[str, ...], str] = {}
        #: Threads started in a call into the plugin: thread -> the call.
        self._threads: dict[threading.Thread, str] = {}
        self._known_threads: set[threading.Thread] = set()
        self._start_threads: set[threading.Thread] = set()
        self._children: set[int] = set()
        self._depth = 0
        self._calls: list[str] = []
        #: Light calls (requests, event deliveries) since the last full comparison, as
        #: dict keys: a test makes the same request by the hundred, in order.
        self._light: dict[str, None] = {}
        self._on = False

    # -- on and off ------------------------------------------------------------

    def start(self) -> ProcessWatch:
        # The libraries whose functions a plugin could replace are in the baseline
        # even when the plugin is the first to import them (the host needs httpx anyway).
        import httpx  # noqa: F401

        self._baseline = snapshot(self.own_package)
        self._known_threads = set(threading.enumerate())
        self._start_threads = set(self._known_threads)
        if sys.platform.startswith("linux"):
            from ..isolation._procs import descendants

            self._children = set(descendants(os.getpid()))
        self._on = True
        _listener.add(self)
        return self

    @contextlib.contextmanager
    def watching(self) -> Iterator[ProcessWatch]:
        self.start()
        try:
            yield self
        finally:
            self.finish()

    @property
    def current_call(self) -> str:
        return self._calls[-1] if self._calls else ""

    @contextlib.contextmanager
    def call(self, name: str, *, light: bool = False, chained: bool = False) -> Iterator[None]:
        """Attribute the changes of the block to ``name`` (a call into the plugin).

        ``light`` (a request, an event delivery: the calls a test makes by the
        hundred) compares only the small state around the block.  Module and
        class attributes and ``sys.modules`` are compared at the next lifecycle
        call or at the end; a change found there is named with the light calls
        made since, if its new value comes from the plugin's files (a value from
        elsewhere may be the test's own, made between two requests).

        ``chained``: the caller guarantees that only its own synchronous code ran
        since the previous call into the plugin ended (the host's ``initialize()``
        right after the import, ``get_api_routes()`` right after ``initialize()``),
        so the comparison on entry can skip the namespaces: they were compared
        when that call ended.
        """
        if not self._on:
            yield
            return
        # On entry: what changed since the last call is the caller's (the test's,
        # the harness's), unless an audit event located it in the plugin.  A call
        # inside a call (a handler of an event a route published) is not compared on
        # its own: its changes are the outer call's (an event storm nests a thousand).
        outer = not self._calls
        if outer:
            self._compare(None, light=light or chained)
        self._calls.append(name)
        from ._network import network_guard

        saved, network_guard.call = network_guard.call, name
        try:
            yield
        finally:
            network_guard.call = saved
            self._calls.pop()
            if outer:
                self._compare(name, light=light)
                if light:
                    self._light.setdefault(name)

    def _compare(self, call: str | None, *, light: bool = False) -> None:
        own = self.own_package + "." if self.own_package else None
        for key, before, after in list(refresh(self._baseline, own, full=not light)):
            if (
                call is None
                and self._light
                and key[0] in ("attr", "sys.modules")
                and _comes_from(after, (self.root, *self.more_roots))
            ):
                self._record(key, before, after, self._light_calls())
                continue
            self._record(key, before, after, call)
        if not light:
            self._light.clear()
        threads = set(threading.enumerate())
        if call is not None:
            for thread in threads - self._known_threads:
                self._threads.setdefault(thread, call)
        self._known_threads = threads

    def _record(self, key: tuple[str, ...], before: Any, after: Any, call: str | None) -> None:
        where = self._located.pop(key, "")
        if call is None and not where:
            return  # between calls, not located in the plugin: not its doing
        self._original.setdefault(key, before)
        self.changes.append(StateChange(key, before, after, where, call or ""))

    def _light_calls(self) -> str:
        shown = list(self._light)[:3]
        more = len(self._light) - len(shown)
        text = ", ".join(shown) + (f" and {more} more" if more else "")
        return f"one of {text}" if len(self._light) > 1 else text

    # -- audit events ----------------------------------------------------------

    def _event(self, event: str, args: tuple[Any, ...]) -> None:
        if not self._on:
            return
        where = plugin_site((self.root, *self.more_roots))
        if event in _STATE_EVENTS:
            if where:
                key: tuple[str, ...] = ("cwd",) if event == "os.chdir" else ("env", _key(args[0]))
                self._located[key] = where
            return
        if not where and not self._calls:
            return  # the test's own subprocess, not the plugin's
        self.spawned.append(Spawned(_command(event, args), where, self.current_call))

    # -- the end ---------------------------------------------------------------

    def finish(self) -> None:
        """Stop watching: record the threads and kill the processes the plugin left."""
        if not self._on:
            return
        self._on = False
        _listener.remove(self)
        # Changes between calls are recorded only when an audit event located them
        # or when light calls are pending: without those, comparing the namespaces
        # here could only find changes that are not the plugin's.
        self._compare(None, light=not self._light)
        self._finish_threads()
        self._finish_processes()

    def _finish_threads(self) -> None:
        frames = sys._current_frames()
        candidates = []
        for thread in threading.enumerate():
            if thread in self._start_threads or not _plugins_thread(thread):
                continue
            call = self._threads.get(thread, "")
            frame = frames.get(thread.ident) if thread.ident is not None else None
            where = plugin_site((self.root, *self.more_roots), frame) if frame else ""
            if call or where:
                candidates.append((thread, call))
        deadline = time.monotonic() + 0.2
        for thread, call in candidates:
            thread.join(max(0.0, deadline - time.monotonic()))
            if not thread.is_alive():
                continue
            frame = sys._current_frames().get(thread.ident or 0)
            where = plugin_site((self.root, *self.more_roots), frame) if frame else ""
            self.threads_left.append(LeftThread(thread.name, thread.daemon, call, where))
            _release_at_exit(thread)

    def _finish_processes(self) -> None:
        if not sys.platform.startswith("linux") or not self.spawned:
            return
        from ..isolation._procs import cmdline, descendants, kill_tree

        me = os.getpid()
        left = [p for p in descendants(me) if p not in self._children]
        for pid in left:
            command = cmdline(pid) or "?"
            origin = next((s for s in self.spawned if command.endswith(s.command)), None)
            if origin is None:
                origin = next((s for s in self.spawned if s.command in command), None)
            site = ""
            if origin is not None:
                site = (
                    f" (started at {origin.where})"
                    if origin.where
                    else f" (started in {origin.call})"
                )
            self.killed.append(f"pid {pid}: {command}{site}")
            kill_tree(pid)
        if left:
            _reap(set(left))

    def restore(self) -> list[str]:
        """Put back what the plugin changed (last change first); what could not be, described."""
        failed = []
        for key, value in reversed(list(self._original.items())):
            try:
                _restore(key, value)
            except Exception as exc:  # a state that cannot be restored is reported, not raised
                failed.append(f"{_describe(key, value, value)}: {type(exc).__name__}: {exc}")
        self._original.clear()
        return failed

    def problems(self, plugin: str) -> list[str]:
        """Texts for a test's teardown failure: the changes, threads and processes."""
        parts = []
        if self.changes:
            parts.append(
                f"Plugin {plugin!r} changed the state of the process it shares with the "
                "platform and every other plugin (restored when its host closed):\n"
                + "\n".join(f"- {c.describe()}" for c in self.changes)
                + "\nUndo the change in shutdown(), or do not make it (a test's own "
                "change belongs in a fixture: monkeypatch)."
            )
        if self.threads_left:
            parts.append(
                f"Plugin {plugin!r} left threads running after shutdown():\n"
                + "\n".join(f"- {t.describe()}" for t in self.threads_left)
                + "\nStop and join them in shutdown() (an Event the thread checks, then "
                "thread.join())."
            )
        if self.killed:
            parts.append(
                f"Plugin {plugin!r} left processes running (killed when its host closed):\n"
                + "\n".join(f"- {k}" for k in self.killed)
                + "\nTerminate and wait for them in shutdown() (process.terminate(); "
                "process.wait())."
            )
        return parts


def shared_watch(root: str) -> ProcessWatch | None:
    """The shared watch that is on for the plugin at ``root`` (a contract run's), if any."""
    return next((w for w in _listener.watches if w.shared and w.root == root), None)


def _key(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _command(event: str, args: tuple[Any, ...]) -> str:
    if event == "os.system":
        return _key(args[0])
    argv = args[1] if len(args) > 1 else None
    if event == "os.spawn" and len(args) > 2:
        argv = args[2]
    if isinstance(argv, (str, bytes)):
        return _key(argv)
    try:
        return " ".join(_key(a) for a in argv)  # type: ignore[union-attr]
    except TypeError:
        return _key(args[0])


def _reap(pids: set[int]) -> None:
    """Collect the exit status of killed children: through the plugin's ``Popen`` objects
    when there are some (so they do not warn "still running" when collected), else here."""
    import subprocess

    for obj in gc.get_objects():
        if isinstance(obj, subprocess.Popen) and obj.pid in pids:
            with contextlib.suppress(Exception):
                obj.wait(1.0)
                pids.discard(obj.pid)
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _plugins_thread(thread: threading.Thread) -> bool:
    # The loop's default executor (asyncio.to_thread, run_in_executor(None, ...))
    # and anyio's worker threads (starlette's sync routes) are shared, not the plugin's.
    if type(thread).__module__.startswith("anyio"):
        return False
    return not thread.name.startswith("asyncio_")


def _release_at_exit(thread: threading.Thread) -> None:
    """Make the interpreter's exit not wait for ``thread`` (as if it were a daemon)."""
    lock = getattr(thread, "_tstate_lock", None)
    locks = getattr(threading, "_shutdown_locks", None)
    guard = getattr(threading, "_shutdown_locks_lock", None)
    if lock is not None and locks is not None and guard is not None:
        with guard:
            locks.discard(lock)
    with contextlib.suppress(AttributeError):
        thread._daemonic = True  # type: ignore[attr-defined]
