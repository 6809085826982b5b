"""Swallowed errors: exceptions that were only logged, failing the test.

Plugins habitually wrap their work in ``except Exception: logger.error(...,
exc_info=True)`` (or ``logger.exception``), and the platform's event bus
logs a handler's exception and goes on.  Either way a broken plugin passes
its tests as long as it logs.  ``SwallowedErrors`` collects, while it is
active, every log record at ERROR or above that carries an exception (any
logger, any thread) and the handler exceptions a bus recorded but was told
to allow, and its end-of-test check lists each with the plugin's own frame,
unless the test allowed them (``allow=True``, or ``match=`` patterns for the
messages that are expected).  Records without an exception are not
collected: an error message alone is a report, not a swallowed failure.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import NexusAssertionError
from .._frames import is_harness_file
from ._guard import Guard

__all__ = ["SwallowedError", "SwallowedErrors"]


@dataclass(frozen=True)
class SwallowedError:
    """One exception that was logged or swallowed instead of raised."""

    #: The logger's name, or ``"event bus"`` for a handler's exception.
    source: str
    message: str
    exception: BaseException | None
    #: ``file:line in function`` of the plugin's frame (or where it was logged).
    site: str

    def describe(self) -> str:
        exc = self.exception
        shown = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        if exc is not None and str(exc) and str(exc) in self.message:
            shown = f" ({type(exc).__name__})"
        return f"{self.source}: {self.message}{shown} at {self.site}"

    def text(self) -> str:
        """What ``match=`` patterns are searched in: the message and the exception."""
        exc = self.exception
        return self.message + (f"\n{type(exc).__name__}: {exc}" if exc is not None else "")


def _site(exc: BaseException | None, prefer: tuple[str, ...], fallback: str) -> str:
    frames = traceback.extract_tb(exc.__traceback__) if exc is not None else []
    own = [f for f in frames if prefer and str(_resolved(f.filename)).startswith(prefer)]
    if not own:
        own = [f for f in frames if not is_harness_file(f.filename)]
    if not own:
        return fallback
    frame = own[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _resolved(filename: str) -> Path:
    try:
        return Path(filename).resolve()
    except OSError:
        return Path(filename)


class _Collector(logging.Handler):
    def __init__(self, owner: SwallowedErrors) -> None:
        super().__init__(level=logging.ERROR)
        self.owner = owner

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what was written
            message = str(record.msg)
        fallback = f"{record.pathname}:{record.lineno} in {record.funcName}"
        self.owner.records.append(
            SwallowedError(record.name, message, exc, _site(exc, self.owner.prefer, fallback))
        )


class SwallowedErrors(Guard):
    """Collects exceptions that were logged or swallowed while it is active.

    ::

        with SwallowedErrors(prefer=["plugins/my_plugin"]) as errors:
            ...                              # run the plugin
        # leaving runs verify(), unless an exception is already on its way

    ``allow=True`` records but never fails; ``match`` (a pattern or a list)
    allows each error whose message or exception matches one (``re.search``).
    ``add_bus(bus)`` adds the handler failures a recording bus kept under
    ``allow_handler_errors=True`` (the fake's, and the platform bus's logged
    ones); failures acknowledged with ``assert_handler_failed`` are left out.
    ``prefer`` names the plugin's directories, whose innermost frame is the
    one reported.
    """

    verify_on_exit = True

    def __init__(
        self,
        *,
        allow: bool = False,
        match: str | Iterable[str] = (),
        prefer: str | Path | Iterable[str | Path] = (),
    ) -> None:
        patterns = [match] if isinstance(match, str) else list(match)
        try:
            self.patterns = [re.compile(p) for p in patterns]
        except re.error as exc:
            raise ValueError(f"match= takes regular expressions; {exc.pattern!r}: {exc}") from None
        self.allow = allow
        if isinstance(prefer, (str, Path)):
            prefer = [prefer]
        self.prefer = tuple(str(_resolved(str(p))) for p in prefer)
        #: Log records collected, in order.
        self.records: list[SwallowedError] = []
        self._buses: list[Any] = []
        self._handler = _Collector(self)
        self._depth = 0
        self._watched: list[logging.Logger] = []

    def add_bus(self, bus: Any) -> None:
        """Also report the handler failures ``bus`` allowed (a RecordingEventBus)."""
        if all(b is not bus for b in self._buses):
            self._buses.append(bus)

    @property
    def errors(self) -> list[SwallowedError]:
        """Everything collected: log records, then the buses' allowed handler failures."""
        found = list(self.records)
        for bus in self._buses:
            if not getattr(bus, "allow_handler_errors", False):
                continue  # the bus's own end-of-test check reports them
            acknowledged: set[int] = getattr(bus, "_acknowledged", set())
            for failure in bus.handler_failures:
                if id(failure) in acknowledged:
                    continue
                exc = failure.exception
                func = getattr(failure.handler, "__func__", failure.handler)
                code = getattr(func, "__code__", None)
                fallback = f"{code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"
                found.append(
                    SwallowedError(
                        "event bus",
                        f"handler for {failure.event.name!r} raised",
                        exc,
                        _site(exc, self.prefer, fallback),
                    )
                )
        return found

    def unexpected(self) -> list[SwallowedError]:
        """The errors neither ``allow`` nor a ``match`` pattern covers."""
        if self.allow:
            return []
        return [e for e in self.errors if not any(p.search(e.text()) for p in self.patterns)]

    def verify(self) -> None:
        """End-of-test check: raise :class:`~nexus_testkit.NexusAssertionError` listing each
        unexpected error."""
        unexpected = self.unexpected()
        if not unexpected:
            return
        listing = "\n".join(f"- {e.describe()}" for e in unexpected)
        raise NexusAssertionError(
            "Exceptions were logged or swallowed instead of raised while the plugin ran:\n"
            f"{listing}\n"
            "Code that catches an exception and only logs it hides a failure from its tests: "
            "let it raise, or if the error is expected, allow it with "
            '@pytest.mark.nexus_allow_errors(match="...") (SwallowedErrors(match=...)).'
        )

    # ------------------------------------------------------------ entering

    def start(self) -> None:
        """Start collecting from every logger (what entering does)."""
        self._depth += 1
        if self._depth == 1:
            logging.getLogger().addHandler(self._handler)

    def watch(self, logger: logging.Logger) -> None:
        """Also collect from ``logger``, which does not propagate to the root logger."""
        if not logger.propagate and self._handler not in logger.handlers:
            logger.addHandler(self._handler)
            self._watched.append(logger)

    def stop(self) -> None:
        """Stop collecting; what was collected stays for :meth:`verify`."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            logging.getLogger().removeHandler(self._handler)
            for logger in self._watched:
                logger.removeHandler(self._handler)
            self._watched.clear()

    def __repr__(self) -> str:
        return f"<SwallowedErrors {len(self.errors)} collected>"
