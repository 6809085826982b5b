"""Outbound attempts: every destination the plugin tried to reach, from whichever layer saw it.

One list of :class:`OutboundAttempt` (host, port, where) per recipient: a
:class:`~nexus_testkit.PluginHost` keeps one (``host.outbound``) for its
lifetime, the contract one for its whole run (``permissions.declared`` reads
it).  Every layer that sees the plugin reach out reports to the one
process-wide :data:`outbound` with :meth:`Outbound.record`:

- the HTTP fakes (``NexusHTTP``): each httpx request, with the host name as
  the plugin wrote it in the URL (``via="httpx"``);
- the network guard: each TCP connection and UDP datagram it refused
  (``via="socket"`` / ``"udp"``), with the address given to ``connect()``;
- any further guard (DNS look-ups, audit hooks) in the same way.

``record()`` costs nothing while no host or contract listens, takes the
stack once, and gives each recipient the attempt with ``where`` set to the
innermost frame in that recipient's plugin directories (else the innermost
frame outside the harness and the networking libraries).  It is safe to call
from any thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .._frames import is_harness_file

__all__ = ["Outbound", "OutboundAttempt", "outbound"]

#: Frames of these never say where the plugin made a call.
_LIBRARY_DIRS = tuple(
    {str(Path(sysconfig.get_paths()[key]).resolve()) for key in ("stdlib", "purelib", "platlib")}
)
_STACK_DEPTH = 64


@dataclass(frozen=True)
class OutboundAttempt:
    """One attempt of the plugin to reach something outside the process."""

    #: The destination as the plugin gave it (URL host name, or the address).
    host: str
    port: int | None
    #: ``file:line in function`` of the plugin's frame that made the attempt.
    where: str
    #: The layer that saw it: ``httpx``, ``socket``, ``udp``, ``dns``...
    via: str
    #: ``refused`` (blocked or unmocked), ``mocked`` (a fake answered), ``allowed``.
    outcome: str = "refused"
    #: True when ``where`` is a frame of the recipient's plugin.
    by_plugin: bool = False

    def describe(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.host!r}{port} ({self.via}, {self.outcome}) at {self.where}"


@dataclass
class _Recipient:
    attempts: list[OutboundAttempt]
    prefer: tuple[str, ...]


def _stack(frame: FrameType | None) -> list[tuple[str, int, str]]:
    frames: list[tuple[str, int, str]] = []
    while frame is not None and len(frames) < _STACK_DEPTH:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return frames


def _where(frames: Sequence[tuple[str, int, str]], prefer: tuple[str, ...]) -> tuple[str, bool]:
    if prefer:
        for filename, line, name in frames:  # innermost first
            # A plugin imported from a relative path has relative file names.
            if filename.startswith(prefer) or os.path.abspath(filename).startswith(prefer):
                return f"{filename}:{line} in {name}", True
    for filename, line, name in frames:
        if is_harness_file(filename) or filename.startswith(_LIBRARY_DIRS) or filename[:1] == "<":
            continue
        return f"{filename}:{line} in {name}", False
    return "<unknown>", False


class Outbound:
    """The process-wide collector of outbound attempts; see the module's docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recipients: list[_Recipient] = []

    @property
    def listening(self) -> bool:
        """True while some host or contract run records attempts."""
        return bool(self._recipients)

    @contextlib.contextmanager
    def recording(
        self, attempts: list[OutboundAttempt], prefer: Sequence[str] = ()
    ) -> Iterator[list[OutboundAttempt]]:
        """Append every attempt made inside the block to ``attempts``; ``where`` is the
        innermost frame under one of the ``prefer`` directories when there is one."""
        recipient = _Recipient(attempts, tuple(str(p) for p in prefer))
        with self._lock:
            self._recipients.append(recipient)
        try:
            yield attempts
        finally:
            with self._lock:
                self._recipients = [r for r in self._recipients if r is not recipient]

    def record(self, host: str, port: int | None, *, via: str, outcome: str = "refused") -> None:
        """Report an attempt to reach ``host:port`` (call it where the attempt is seen)."""
        recipients = self._recipients
        if not recipients:
            return
        frames = _stack(sys._getframe(1))
        for recipient in recipients:
            where, by_plugin = _where(frames, recipient.prefer)
            recipient.attempts.append(
                OutboundAttempt(str(host), port, where, via, outcome, by_plugin)
            )


#: The one collector every layer reports to.
outbound = Outbound()
