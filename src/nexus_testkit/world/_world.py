"""The outside world of one host: its clock, its HTTP fakes, its swallowed-errors check.

``OutsideWorld`` validates the host's options for them once, builds the
three objects and enters them for the host's lifetime, as one guard; the
host asks it for its end-of-test problems.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import NexusAssertionError
from ..host._options import CLOCKS
from ._clock import ClockError, VirtualClock, _Offset
from ._swallowed import SwallowedErrors

if TYPE_CHECKING:
    from ._http import NexusHTTP

__all__ = ["CLOCKS", "OutsideWorld"]


def _check_allow_errors(value: Any) -> tuple[bool, list[str]]:
    if isinstance(value, bool):
        return value, []
    if isinstance(value, str):
        return False, [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return False, list(value)
    raise ValueError(
        "allow_errors takes True/False, a pattern or a list of patterns "
        f"(like allow_errors='retrying'), got {value!r}"
    )


class OutsideWorld:
    """The clock, HTTP fakes and swallowed-errors collector of one host.

    ``clock`` is ``"virtual"`` (the default: the test's running clock if there
    is one, else a new one), ``"real"``, or a :class:`VirtualClock` to share.
    ``http`` is a :class:`NexusHTTP` to use; without one, a host whose network
    is blocked gets its own, strict, with ``allow_hosts``.  ``allow_errors``
    is ``True``, or the patterns of the swallowed errors the test expects.
    """

    def __init__(
        self,
        *,
        clock: str | VirtualClock = "virtual",
        http: NexusHTTP | None = None,
        allow_hosts: Sequence[str] = (),
        allow_errors: bool | str | Sequence[str] = False,
        allow_network: bool = False,
        prefer: str | Path | Sequence[str | Path] = (),
    ) -> None:
        if not isinstance(clock, VirtualClock) and clock not in CLOCKS:
            raise ValueError(
                f"clock must be 'virtual', 'real' or a VirtualClock, got clock={clock!r}"
            )
        allow, patterns = _check_allow_errors(allow_errors)
        self._clock_option = clock
        self.clock: VirtualClock | None = clock if isinstance(clock, VirtualClock) else None
        if http is None and not allow_network:
            from ._http import NexusHTTP  # httpx and respx: when a host is built

            http = NexusHTTP(allow_hosts=allow_hosts)
        self.http = http
        self.errors = SwallowedErrors(allow=allow, match=patterns, prefer=prefer)
        self._entered: list[Any] = []

    def add_bus(self, bus: Any) -> None:
        """Report the handler failures ``bus`` allowed, as swallowed errors."""
        self.errors.add_bus(bus)

    def enter(self) -> None:
        """Start the clock, the HTTP fakes and the collector (inside the host's loop)."""
        if self._clock_option == "virtual" and self.clock is None:
            active = _Offset.active
            running = active is not None and active._loop is asyncio.get_running_loop()
            self.clock = active if running and active is not None else VirtualClock()
        for guard in (self.clock, self.http, self.errors):
            if guard is None:
                continue
            try:
                guard.start()
            except ClockError:
                self.exit()
                raise
            self._entered.append(guard)

    def exit(self) -> None:
        """Stop what :meth:`enter` started, last first; the records stay."""
        while self._entered:
            self._entered.pop().stop()

    def __enter__(self) -> OutsideWorld:
        self.enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exit()

    def problems(self) -> list[str]:
        """The end-of-test failures of the HTTP fakes and the collector, one text each."""
        found = []
        for check in (self.http, self.errors):
            if check is None:
                continue
            try:
                check.verify()
            except NexusAssertionError as exc:
                found.append(str(exc))
        return found
