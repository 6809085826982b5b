"""One context-manager protocol for the outside world's objects.

The clock, the HTTP fakes and the swallowed-errors collector each have
``start()`` and ``stop()`` (counted, so they nest) and are used the same way,
with ``with`` or ``async with``; the ones with an end-of-test check
(``verify_on_exit``) run it when the block ends without an exception.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Guard"]


class Guard:
    """``start()``/``stop()`` as a sync and async context manager."""

    #: Run :meth:`verify` when a ``with`` block ends cleanly.
    verify_on_exit = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def verify(self) -> None:
        """The end-of-test check; nothing to check by default."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.verify_on_exit:
            self.verify()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
