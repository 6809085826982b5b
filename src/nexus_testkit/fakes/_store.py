"""A recording key-value store with the interface of ``nexus.database.DatabaseAdapter``.

Two fidelities:

``memory`` (default)
    Behaves like ``nexus.database.MemoryAdapter``: values are stored as given
    (by reference), ``disconnect()`` clears everything, ``list_keys`` uses
    ``fnmatch`` and returns keys in insertion order.

``sql``
    Round-trips values exactly as ``nexus.database.SQLAlchemyAdapter`` does:
    dicts, lists and tuples are stored as ``json.dumps``, everything else as
    ``str(value)``; reads try ``json.loads`` and fall back to the raw string.
    So ``True`` reads back as the string ``"True"``, ``None`` as ``"None"``, a
    tuple as a list, and the *string* ``"42"`` as the integer 42.  Data
    survives ``disconnect()``/``connect()``; ``list_keys`` follows SQL
    ``LIKE`` (``*``/``?`` become ``%``/``_``, ASCII case-insensitive as in
    SQLite) and returns keys sorted.

Both raise ``RuntimeError("Database not connected")`` on use before
``connect()`` or after ``disconnect()``, like the platform.  The host connects
the store before the plugin starts.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from .._errors import NexusAssertionError
from .._masking import Masker
from ._recording import CallList, FlatRecording, Standalone

__all__ = ["DataOperation", "RecordingDataStore", "sql_round_trip"]

Fidelity = Literal["memory", "sql"]
FIDELITIES: tuple[Fidelity, ...] = ("memory", "sql")
OPERATIONS = (
    "connect",
    "disconnect",
    "get",
    "set",
    "delete",
    "exists",
    "list_keys",
    "clear",
    "health_check",
)
_UNSET: Any = object()


class DataOperation(NamedTuple):
    """One call on the store: ``op`` (``"get"``, ``"set"``, ...), key, value and result."""

    op: str
    key: str | None
    value: Any
    result: Any
    error: BaseException | None = None


class _DatabaseConfig:
    """Stands in for ``nexus.database.DatabaseConfig``, with the same fields and defaults."""

    def __init__(self, type: str) -> None:
        self.type = type
        self.url: str | None = None
        self.host = "localhost"
        self.port = 5432
        self.database = "nexus"
        self.username: str | None = None
        self.password: str | None = None
        self.path = "./nexus.db"
        self.pool_size = 10
        self.max_overflow = 20
        self.pool_timeout = 30
        self.replica_set: str | None = None
        self.auth_source = "admin"
        self.ssl_enabled = False
        self.ssl_cert_path: str | None = None
        self.ssl_key_path: str | None = None
        self.ssl_ca_path: str | None = None


def sql_serialise(value: Any) -> str:
    """What ``SQLAlchemyAdapter.set`` stores for ``value``."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def sql_deserialise(stored: str) -> Any:
    """What ``SQLAlchemyAdapter.get`` returns for a stored string."""
    try:
        return json.loads(stored)
    except json.JSONDecodeError:
        return stored


def sql_round_trip(value: Any) -> Any:
    """The value a plugin reads back after writing ``value`` through the SQL adapter."""
    return sql_deserialise(sql_serialise(value))


_sqlite: Any = None


def _sqlite_text(value: Any) -> str:
    """``value`` as SQLite turns it into TEXT (what a text key column stores)."""
    global _sqlite
    if _sqlite is None:
        import sqlite3

        _sqlite = sqlite3.connect(":memory:", check_same_thread=False)
    text: str = _sqlite.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]
    return text


def _like_regex(pattern: str) -> re.Pattern[str]:
    # The platform turns * and ? into % and _; a literal % or _ in the pattern
    # is then a LIKE wildcard too.  SQLite's LIKE folds ASCII case only.
    sql = pattern.replace("*", "%").replace("?", "_")
    parts = []
    for ch in sql:
        if ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        elif ch.isascii() and ch.isalpha():
            parts.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


class _Fault(NamedTuple):
    op: str
    exception: BaseException
    key: str | None
    remaining: int


class RecordingDataStore(Standalone):
    """In-memory ``DatabaseAdapter`` that records each operation.

    ``operations`` is a :class:`CallList` of :class:`DataOperation` in call
    order; ``data`` is what is stored now (as the plugin would read it back).
    ``fail_next(op, exc)`` makes the next matching call raise ``exc``.
    """

    def __init__(
        self,
        fidelity: Fidelity = "memory",
        *,
        connected: bool = False,
        masker: Masker | None = None,
    ) -> None:
        if fidelity not in FIDELITIES:
            raise ValueError(
                f"{fidelity!r} is not a valid fidelity. Valid fidelities: {', '.join(FIDELITIES)}."
            )
        self._fidelity: Fidelity = fidelity
        self.config = _DatabaseConfig("memory" if fidelity == "memory" else "sqlite")
        self._connected = connected
        self.masker = masker or Masker()
        self._sql = fidelity == "sql"  # read on every operation
        # Operations are recorded flat, five fields each, and become
        # DataOperation records when someone looks (see FlatRecording).
        self._operations = FlatRecording(DataOperation._make, 5)
        self._recorded = self._operations.buffer
        self._data: dict[str, Any] = {}
        self._faults: list[_Fault] = []
        self._set_observers: list[Callable[[str, Any], None]] = []
        #: Not connected, or a fault is waiting: each operation checks this one flag.
        self._slow = not connected

    @property
    def fidelity(self) -> Fidelity:
        """``"memory"`` (values stored as given) or ``"sql"`` (as the SQL adapter stores them)."""
        return self._fidelity

    @property
    def connected(self) -> bool:
        """Whether ``connect()`` was called (operations other than connect raise until then)."""
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        self._connected = value
        self._update_slow()

    @property
    def operations(self) -> CallList[DataOperation]:
        """Every call on the store, in order (a :class:`CallList` of :class:`DataOperation`)."""
        return self._operations

    # ------------------------------------------------------------ helpers

    def _update_slow(self) -> None:
        self._slow = bool(self._faults) or not self._connected

    def _check(self, op: str, key: str | None) -> None:
        if not self._slow:
            return  # the common case, kept cheap: every operation passes here
        for i, fault in enumerate(self._faults):
            if fault.op == op and (fault.key is None or fault.key == key):
                if fault.remaining <= 1:
                    del self._faults[i]
                    self._update_slow()
                else:
                    self._faults[i] = fault._replace(remaining=fault.remaining - 1)
                self._recorded.extend((op, key, None, None, fault.exception))
                raise fault.exception
        if not self._connected and op not in ("connect", "disconnect", "health_check"):
            error = RuntimeError("Database not connected")
            self._recorded.extend((op, key, None, None, error))
            raise error

    def fail_next(
        self,
        op: str,
        exception: BaseException | type[BaseException] | None = None,
        *,
        key: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``op`` (on ``key``, if given) raise ``exception``."""
        if op not in OPERATIONS:
            raise ValueError(
                f"{op!r} is not a store operation. Valid operations: {', '.join(OPERATIONS)}."
            )
        if times < 1:
            raise ValueError(f"times must be at least 1, got times={times!r}")
        if exception is None:
            exception = RuntimeError("injected fault")
        exc = exception() if isinstance(exception, type) else exception
        self._faults.append(_Fault(op, exc, key, times))
        self._update_slow()

    def observe_sets(self, observer: Callable[[str, Any], None]) -> None:
        """Call ``observer(key, value)`` on every successful ``set``."""
        self._set_observers.append(observer)

    def _key(self, key: Any) -> Any:
        if self.fidelity != "sql":
            return key
        # The SQL adapter's key column is text, converted by SQLite itself:
        # 1 and "1" are one row, True is "1", 1e20 is "1.0e+20".
        if not isinstance(key, str):
            key = _sqlite_text(key)
        key.encode("utf-8")  # a lone surrogate cannot reach SQLite: UnicodeEncodeError
        return key

    # ------------------------------------------------------------ adapter interface

    async def connect(self) -> None:
        self._check("connect", None)
        self.connected = True
        self._recorded.extend(("connect", None, None, None, None))

    async def disconnect(self) -> None:
        self._check("disconnect", None)
        self.connected = False
        if self.fidelity == "memory":
            # MemoryAdapter.disconnect clears its data; a SQL database keeps it.
            self._data.clear()
        self._recorded.extend(("disconnect", None, None, None, None))

    async def get(self, key: str, default: Any = None) -> Any:
        if self._slow:
            self._check("get", key)
        if self._sql:
            key = self._key(key)
            stored = self._data.get(key, _UNSET)
            result = default if stored is _UNSET else sql_deserialise(stored)
        else:
            result = self._data.get(key, _UNSET)
            if result is _UNSET:
                result = default
        self._recorded.extend(("get", key, default, result, None))
        return result

    async def set(self, key: str, value: Any) -> None:
        if self._slow:
            self._check("set", key)
        if self._sql:
            # In the platform's order: json.dumps may raise TypeError for a dict
            # holding a non-JSON value, then the key, then the text are encoded.
            stored = sql_serialise(value)
            key = self._key(key)
            stored.encode("utf-8")
            self._data[key] = stored
        else:
            self._data[key] = value
        self._recorded.extend(("set", key, value, None, None))
        if self._set_observers:
            for observer in self._set_observers:
                observer(key, value)

    async def delete(self, key: str) -> None:
        self._check("delete", key)
        key = self._key(key)
        self._data.pop(key, None)
        self._recorded.extend(("delete", key, None, None, None))

    async def exists(self, key: str) -> bool:
        self._check("exists", key)
        key = self._key(key)
        result = key in self._data
        self._recorded.extend(("exists", key, None, result, None))
        return result

    async def list_keys(self, pattern: str = "*") -> list[str]:
        self._check("list_keys", None)
        if self.fidelity == "sql":
            keys = sorted(self._data)
            if pattern != "*":
                pattern.encode("utf-8")  # as _key: SQLite takes UTF-8 text only
                # SQLite's LIKE stops reading both strings at the first NUL.
                regex = _like_regex(pattern.split("\x00", 1)[0])
                keys = [k for k in keys if regex.fullmatch(k.split("\x00", 1)[0])]
        elif pattern == "*":
            keys = list(self._data)
        else:
            keys = [k for k in self._data if fnmatch.fnmatch(k, pattern)]
        self._recorded.extend(("list_keys", None, pattern, keys, None))
        return keys

    async def clear(self) -> None:
        self._check("clear", None)
        self._data.clear()
        self._recorded.extend(("clear", None, None, None, None))

    async def health_check(self) -> dict[str, Any]:
        self._check("health_check", None)
        result: dict[str, Any]
        if self.fidelity == "memory":
            result = {
                "status": "healthy" if self.connected else "disconnected",
                "type": "memory",
                "connected": self.connected,
                "total_keys": len(self._data) if self.connected else 0,
            }
        elif not self.connected:
            result = {"status": "disconnected", "error": "Not connected to database"}
        else:
            result = {
                "status": "healthy",
                "type": self.config.type,
                "connected": True,
                "total_keys": len(self._data),
                "connection_pool_size": self.config.pool_size,
            }
        self._recorded.extend(("health_check", None, None, result, None))
        return result

    # ------------------------------------------------------------ inspection

    @property
    def data(self) -> dict[str, Any]:
        """Everything stored, as a plugin would read it back (a copy)."""
        if self.fidelity == "sql":
            return {k: sql_deserialise(v) for k, v in self._data.items()}
        return dict(self._data)

    @property
    def raw(self) -> dict[str, Any]:
        """Everything stored, as stored (strings under ``sql`` fidelity)."""
        return dict(self._data)

    @property
    def writes(self) -> CallList[DataOperation]:
        """Successful ``set`` calls, in order."""
        return CallList(op for op in self.operations if op.op == "set" and op.error is None)

    @property
    def reads(self) -> CallList[DataOperation]:
        """``get``, ``exists`` and ``list_keys`` calls, in order."""
        return CallList(op for op in self.operations if op.op in ("get", "exists", "list_keys"))

    def seed(self, values: dict[str, Any]) -> None:
        """Store values directly, without recording, as if an earlier run had written them."""
        for key, value in values.items():
            self._data[key] = sql_serialise(value) if self.fidelity == "sql" else value

    def assert_stored(self, key: str, value: Any = _UNSET) -> Any:
        """Assert ``key`` is stored (with ``value``, as read back, if given); return its value."""
        __tracebackhide__ = True
        data = self.data
        if key in data and (value is _UNSET or data[key] == value):
            return data[key]
        if key in data:
            problem = f"key {key!r} holds {data[key]!r}, expected {value!r}"
            if self.fidelity == "sql" and sql_round_trip(value) == data[key]:
                problem += (
                    f" (under sql fidelity {value!r} reads back as {data[key]!r}: the "
                    "platform's SQL adapter stores values other than dict, list and tuple "
                    "as str() and reads them back through json.loads)"
                )
        else:
            problem = f"key {key!r} is not stored"
        raise NexusAssertionError(self.masker(f"{problem}.\n{self.describe()}"))

    def describe(self) -> str:
        """The stored keys and values, one ``- key = value`` per line."""
        data = self.data
        if not data:
            return "The data store is empty."
        lines = "\n".join(f"- {k} = {v!r}" for k, v in data.items())
        return f"Stored keys ({self.fidelity} fidelity):\n{lines}"

    def __repr__(self) -> str:
        return (
            f"<RecordingDataStore {self._standalone_note()}fidelity={self.fidelity} "
            f"keys={len(self._data)} "
            f"operations={len(self.operations)} connected={self.connected}>"
        )
