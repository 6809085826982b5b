"""Blocking outbound network use while a plugin runs under a host.

A plugin under test must not reach real services by accident: every TCP or
UDP connection it opens, every DNS lookup and every datagram it sends, through
any API (``socket``, ``_socket``, asyncio, urllib, httpx, database drivers),
fails at once with an error naming the destination and how to allow it.  The
guard listens to the interpreter's audit events (``socket.connect``,
``socket.getaddrinfo``, ``socket.gethostbyname``, ``socket.sendto``,
``socket.sendmsg``...; see :mod:`._audithook`), which plugin code cannot
monkeypatch away.  The harness's own client is in-process (ASGI) and opens no
socket.  Unix sockets, socket pairs and listening sockets are not affected.

Each refusal is recorded as a :class:`NetworkAttempt`: the host as the plugin
wrote it, the port, and where the plugin made it (its innermost frame); and
reported to :data:`._outbound.outbound` (``via="socket"``, ``"udp"`` or
``"dns"``), which ``permissions.declared`` reads.

The guard is process-wide while at least one blocking host is open (threads
the plugin starts and the event loop's executor begin with an empty context,
so a context variable would let them through); it is reference-counted so
nested hosts compose.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .._errors import NexusTestkitError
from ._audithook import listen, plugin_site

__all__ = ["NetworkAttempt", "NetworkBlockedError", "network_guard"]

_INET = (socket.AF_INET, socket.AF_INET6)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_log = logging.getLogger("nexus_testkit.network")


class NetworkBlockedError(NexusTestkitError, ConnectionRefusedError):
    """A plugin under the test host tried to open a network connection."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        super().__init__(
            f"pytest-nexus blocked a network connection to {destination}: plugins under the "
            "test host get no network by default. Serve the call in the test (respx or "
            "pytest-httpx for httpx clients), or allow it with "
            "@pytest.mark.nexus_host(allow_network=True) / HostOptions(allow_network=True)."
        )


NetworkBlockedError.__module__ = "nexus_testkit"


@dataclass(frozen=True)
class NetworkAttempt:
    """One network use the guard refused.

    ``kind`` is ``connect``, ``dns`` or ``datagram``; ``host`` is the name or
    address as the plugin wrote it; ``port`` is ``None`` for a lookup without
    one (``gethostbyname``); ``where`` is ``file:line in function`` of the
    plugin's innermost frame ("" when no plugin frame was on the stack: a
    lookup asyncio runs in its executor thread), ``call`` the call into the
    plugin that was running (``initialize()``, ``GET /api/plugins/x/items``).
    """

    kind: str
    host: str
    port: int | None
    where: str = ""
    call: str = ""

    @property
    def destination(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = host if self.port is None else f"{host}:{self.port}"
        if self.kind == "datagram":
            return text + " (UDP)"
        if self.kind == "dns" and self.port is None:
            return text + " (DNS lookup)"
        return text

    def describe(self) -> str:
        """``destination at file:line in function`` (or ``during <call>``)."""
        if self.where:
            return f"{self.destination} at {self.where}"
        return f"{self.destination} during {self.call}" if self.call else self.destination


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _port(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return socket.getservbyname(_text(value))
        except OSError:
            return None


class _Guard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._allowed: Counter[tuple[str, int]] = Counter()
        #: Where the plugins of the open hosts live (their frames locate an attempt).
        self._roots: Counter[str] = Counter()
        #: The call into the plugin running now (set by the host and the contract).
        self.call = ""
        #: Every destination refused so far (hosts take the slice of their lifetime).
        self.blocked: list[str] = []
        #: Every attempt refused so far, as :class:`NetworkAttempt` (same order as ``blocked``).
        self.attempts: list[NetworkAttempt] = []
        self._listening = False

    @property
    def active(self) -> bool:
        """True while at least one blocking host (or contract run) is open."""
        return self._depth > 0

    def allow(self, host: str, port: int) -> None:
        """Let connections to ``host:port`` through (the harness's own database)."""
        names = {host}
        if host in _LOOPBACK:
            names |= set(_LOOPBACK)
        self._allowed.update((name, port) for name in names)

    def disallow(self, host: str, port: int) -> None:
        """Undo one :meth:`allow` (an ``allow_hosts`` entry of a test that ended)."""
        names = {host}
        if host in _LOOPBACK:
            names |= set(_LOOPBACK)
        self._allowed.subtract((name, port) for name in names)
        self._allowed = +self._allowed  # drop what fell to zero

    def _is_allowed(self, host: str, port: int | None) -> bool:
        if port is None or port == 0:
            return any(name == host for name, _ in self._allowed)
        return (host, port) in self._allowed

    def _refuse(self, kind: str, host: str, port: int | None) -> NetworkBlockedError:
        attempt = NetworkAttempt(kind, host, port, plugin_site(self._roots), self.call)
        error = NetworkBlockedError(attempt.destination)
        self.attempts.append(attempt)
        self.blocked.append(attempt.destination)
        from ._outbound import outbound  # permissions.declared and host.outbound read it

        via = {"connect": "socket", "datagram": "udp"}.get(kind, kind)
        outbound.record(host, port, via=via)
        # Libraries often wrap the error (httpx says "All connection attempts
        # failed"); the log record keeps the destination and the way out visible.
        _log.warning("%s", error)
        return error

    def _on_event(self, event: str, args: tuple[Any, ...]) -> None:
        if self._depth == 0:
            return
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock, address = args[0], args[1]
            if address is None or getattr(sock, "family", None) not in _INET:
                return
            if not isinstance(address, tuple) or len(address) < 2:
                return
            host, port = _text(address[0]), _port(address[1])
            kind = "connect" if event == "socket.connect" else "datagram"
        elif event == "socket.getaddrinfo":
            if args[0] is None:
                return  # a passive lookup (bind to any address): no destination
            host, port, kind = _text(args[0]), _port(args[1]), "dns"
        elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
            host, port, kind = _text(args[0]), None, "dns"
        elif event == "socket.getnameinfo":
            address = args[0]
            if not isinstance(address, tuple) or len(address) < 2:
                return
            host, port, kind = _text(address[0]), _port(address[1]), "dns"
        else:
            return
        if not self._is_allowed(host, port):
            raise self._refuse(kind, host, port)

    def acquire(self, root: str | None = None) -> None:
        """Block the network (until the matching :meth:`release`); ``root``: the plugin's
        directory, whose frames say where an attempt was made."""
        with self._lock:
            if not self._listening:
                listen(
                    (
                        "socket.connect",
                        "socket.sendto",
                        "socket.sendmsg",
                        "socket.getaddrinfo",
                        "socket.gethostbyname",
                        "socket.gethostbyname_ex",
                        "socket.gethostbyaddr",
                        "socket.getnameinfo",
                    ),
                    self._on_event,
                )
                self._listening = True
            self._depth += 1
            if root:
                self._roots[root] += 1

    def release(self, root: str | None = None) -> None:
        with self._lock:
            self._depth -= 1
            if root:
                self._roots[root] -= 1
                self._roots = +self._roots


network_guard = _Guard()
