"""List-like recorders with a mock-like API (after respx's ``CallList``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["CallList", "FlatRecording", "Origins", "Standalone"]

T = TypeVar("T")


class Origins:
    """Which plugin made each record of a recording shared by several plugins.

    Kept by identity of the record, so it survives the list being cleared,
    sliced or filtered; a host of several plugins fills it (``host._views``).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Any, str]] = {}

    def mark(self, record: Any, plugin: str) -> None:
        # The record is kept too: its id must not be reused while this lives.
        self._by_id[id(record)] = (record, plugin)

    def of(self, record: Any) -> str | None:
        """The plugin that made ``record``; None for one the test made itself."""
        entry = self._by_id.get(id(record))
        return entry[1] if entry is not None and entry[0] is record else None


class CallList(list[T], Generic[T]):
    """A list of records with ``called``, ``call_count`` and ``last``.

    It is a plain list otherwise: index it, iterate it, compare it, ``clear()`` it.
    In a host of several plugins, :meth:`by` selects the records one plugin made.
    """

    #: Set on the recordings of components shared by several plugins.
    origins: Origins | None = None

    def by(self, plugin: str) -> CallList[T]:
        """The records ``plugin`` (a manifest name) made, in order.

        Only the recordings of a host of several plugins know who made what;
        anywhere else this raises ``LookupError`` saying so.
        """
        origins = self.origins
        if origins is None:
            raise LookupError(
                f"by({plugin!r}): these records do not say which plugin made them; only "
                "the components of a host of several plugins do "
                "(PluginHost([...]) or @pytest.mark.nexus_plugins(...))"
            )
        return CallList(r for r in self if origins.of(r) == plugin)

    def origin(self, record: T) -> str | None:
        """The plugin that made ``record`` (None if unknown or made by the test)."""
        return None if self.origins is None else self.origins.of(record)

    @property
    def called(self) -> bool:
        """True if anything was recorded."""
        return bool(self)

    @property
    def call_count(self) -> int:
        """How many records there are."""
        return len(self)

    @property
    def last(self) -> T:
        """The most recent record; ``IndexError`` naming the recorder if there is none."""
        if not self:
            raise IndexError(f"{type(self).__name__} is empty: nothing was recorded")
        return self[-1]


class Standalone:
    """Mixin of the fakes: ``standalone`` says no plugin runs against this one (its repr says so).

    The pytest fixtures set it when a test asks for a fake but for no host,
    so a test that expected the plugin to publish or write sees why nothing came.
    """

    standalone = False

    def _standalone_note(self) -> str:
        return "standalone: no plugin runs; " if self.standalone else ""


class FlatRecording(CallList[T]):
    """A :class:`CallList` whose records are appended flat and built when read.

    A recorder appends each record's fields to ``buffer`` (``width`` of them);
    any use of the list first turns what is buffered into records with
    ``make``.  Building a NamedTuple costs ten times as much as appending its
    fields, and most records are never read; a reference kept to the list
    still sees every later record.
    """

    def __init__(self, make: Callable[[Iterable[Any]], T], width: int) -> None:
        super().__init__()
        self.buffer: list[Any] = []
        self._make = make
        self._width = width

    def __radd__(self, other: Any) -> Any:
        # `[] + recording`: list's own __add__ would read the list storage
        # directly and miss what is buffered; a subclass's reflected method
        # is tried first, so the records are built here.
        self._sync()
        if isinstance(other, list):
            return other + list(list.__iter__(self))
        return NotImplemented

    def _sync(self) -> None:
        buffer = getattr(self, "buffer", None)  # absent on a copy made by copy.copy
        if buffer:
            fields = [iter(buffer)] * self._width
            list.extend(self, map(self._make, zip(*fields, strict=True)))
            buffer.clear()


def _synced(name: str) -> Any:
    method = getattr(list, name)

    @functools.wraps(method)
    def synced(self: FlatRecording[Any], *args: Any, **kwargs: Any) -> Any:
        self._sync()
        return method(self, *args, **kwargs)

    return synced


for _name in (
    "__len__", "__iter__", "__reversed__", "__getitem__", "__setitem__", "__delitem__",
    "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__repr__",
    "__add__", "__mul__", "__rmul__", "__iadd__", "__imul__", "__reduce_ex__", "append", "extend",
    "insert", "pop", "remove", "clear", "index", "count", "copy", "sort", "reverse",
):  # fmt: skip
    setattr(FlatRecording, _name, _synced(_name))
