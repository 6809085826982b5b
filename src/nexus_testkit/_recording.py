"""List-like recorders with a mock-like API (after respx's ``CallList``)."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["CallList"]

T = TypeVar("T")


class CallList(list[T], Generic[T]):
    """A list of records with ``called``, ``call_count`` and ``last``.

    It is a plain list otherwise: index it, iterate it, compare it, ``clear()`` it.
    """

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
