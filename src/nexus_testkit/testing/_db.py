"""``TestDatabase``: the guide's test database, the platform's key-value adapter.

nexus-platform 0.1.5 gives a plugin a ``DatabaseAdapter``: ``get``, ``set``,
``delete``, ``exists``, ``list_keys``, ``clear`` and ``health_check`` over
string keys.  ``TestDatabase`` is a :class:`~nexus_testkit.RecordingDataStore`
(every operation recorded) with the guide's ``setup``/``cleanup`` and a
``transaction()`` shaped like the platform's ``TransactionContext``.  The
guide's SQL (``execute``, ``fetch_one``, ...) raises
:class:`NexusGuardDivergence`: there is no SQL on the platform's adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, NoReturn

from ..fakes._store import RecordingDataStore
from ._divergence import DIVERGENCES

__all__ = ["TestDatabase", "Transaction"]


class Transaction:
    """``async with db.transaction() as tx``: the platform's ``TransactionContext``.

    ``tx.set``/``tx.delete`` are buffered and applied on a clean exit (or
    ``commit()``); an exception or ``rollback()`` drops them.  Writes made
    through the adapter meanwhile are not part of it, as on the platform:
    when a rollback leaves such writes behind, it warns.
    """

    def __init__(self, store: RecordingDataStore) -> None:
        #: The adapter the committed writes go to.
        self.store = store
        self._operations: list[tuple[str, str, Any]] = []
        self._committed = False
        self._writes_before = 0

    async def __aenter__(self) -> Transaction:
        self._writes_before = self._adapter_writes()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._committed:
            await self.commit()
        elif not self._committed:
            bypassed = self._adapter_writes() - self._writes_before
            await self.rollback()
            if bypassed:
                DIVERGENCES["transaction-bypassed"].warn(
                    f"{bypassed} write(s) through the adapter stay", stacklevel=3
                )

    def _adapter_writes(self) -> int:
        return sum(1 for op in self.store.operations if op.op in ("set", "delete", "clear"))

    async def get(self, key: str, default: Any = None) -> Any:
        for op, op_key, value in reversed(self._operations):
            if op_key == key:
                return value if op == "set" else default
        return await self.store.get(key, default)

    async def set(self, key: str, value: Any) -> None:
        self._operations.append(("set", key, value))

    async def delete(self, key: str) -> None:
        self._operations.append(("delete", key, None))

    async def commit(self) -> None:
        if self._committed:
            return
        # Applied through the adapter: the operations are recorded as the plugin's are.
        for op, key, value in self._operations:
            if op == "set":
                await self.store.set(key, value)
            else:
                await self.store.delete(key)
        self._operations.clear()
        self._committed = True

    async def rollback(self) -> None:
        self._operations.clear()
        self._committed = True


def _refusing_sql(call: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
    """A method of the guide's SQL API that raises the ``raw-sql`` divergence."""

    async def method(self: RecordingDataStore, query: Any, *args: Any, **kwargs: Any) -> NoReturn:
        __tracebackhide__ = True
        text = " ".join(str(query).split())
        if len(text) > 60:
            text = text[:57] + "..."
        raise DIVERGENCES["raw-sql"].fail(f"{call}({text!r})")

    method.__name__ = method.__qualname__ = call
    method.__doc__ = "Raises :class:`NexusGuardDivergence`: the platform's adapter runs no SQL."
    return method


class TestDatabase(RecordingDataStore):
    """The guide's ``TestDatabase``: ``await db.setup()`` ... ``await db.cleanup()``."""

    __test__ = False  # a test helper, not a test class for pytest to collect

    async def setup(self) -> None:
        """Connect (``DatabaseAdapter.connect``)."""
        if not self.connected:
            await self.connect()

    async def cleanup(self) -> None:
        """Disconnect; like the platform's memory adapter, that forgets what was stored."""
        if self.connected:
            await self.clear()
            await self.disconnect()

    def __repr__(self) -> str:
        return super().__repr__().replace("<RecordingDataStore", "<TestDatabase", 1)

    def transaction(self) -> Transaction:
        """A transaction over this store, as ``TransactionContext(adapter)`` on the platform."""
        return Transaction(self)

    execute = _refusing_sql("execute")
    fetch_one = _refusing_sql("fetch_one")
    fetch_all = _refusing_sql("fetch_all")
    fetch_val = _refusing_sql("fetch_val")
