"""Blocking outbound network connections while a plugin runs under a host.

A plugin under test must not reach real services by accident: every TCP or
UDP connection it opens (``socket.connect``, and through it asyncio, httpx,
aiohttp, database drivers) fails at once with an error naming the
destination and how to allow it.  The harness's own client is in-process
(ASGI) and opens no socket.  Unix sockets, socket pairs and listening
sockets are not affected.

The guard is process-wide while at least one blocking host is open; it is
reference-counted so nested hosts compose.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from typing import Any

from .._errors import NexusTestkitError

__all__ = ["NetworkBlockedError", "network_guard"]

_INET = (socket.AF_INET, socket.AF_INET6)
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


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(address)


class _Guard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: dict[str, Any] = {}
        self._originals: dict[str, Any] = {}
        self._allowed: Counter[tuple[str, int]] = Counter()
        #: Every destination refused so far (hosts take the slice of their lifetime).
        self.blocked: list[str] = []

    def allow(self, host: str, port: int) -> None:
        """Let connections to ``host:port`` through (the harness's own database)."""
        names = {host}
        if host in ("localhost", "127.0.0.1", "::1"):
            names |= {"localhost", "127.0.0.1", "::1"}
        self._allowed.update((name, port) for name in names)

    def disallow(self, host: str, port: int) -> None:
        """Undo one :meth:`allow` (an ``allow_hosts`` entry of a test that ended)."""
        names = {host}
        if host in ("localhost", "127.0.0.1", "::1"):
            names |= {"localhost", "127.0.0.1", "::1"}
        self._allowed.subtract((name, port) for name in names)
        self._allowed = +self._allowed  # drop what fell to zero

    def _blocked(self, sock: socket.socket, address: Any) -> bool:
        if sock.family not in _INET:
            return False
        allowed = isinstance(address, tuple) and (str(address[0]), address[1]) in self._allowed
        return not allowed

    def _refuse(
        self, destination: str, address: Any = None, via: str = "socket"
    ) -> NetworkBlockedError:
        error = NetworkBlockedError(destination)
        self.blocked.append(destination)
        if isinstance(address, tuple) and len(address) >= 2:
            from ._outbound import outbound

            outbound.record(str(address[0]), address[1], via=via)
        # Libraries often wrap the error (httpx says "All connection attempts
        # failed"); the log record keeps the destination and the way out visible.
        _log.warning("%s", error)
        return error

    def _connect(self, sock: socket.socket, address: Any) -> None:
        if self._blocked(sock, address):
            raise self._refuse(_describe(address), address)
        self._originals["connect"](sock, address)

    def _connect_ex(self, sock: socket.socket, address: Any) -> int:
        if self._blocked(sock, address):
            raise self._refuse(_describe(address), address)
        result: int = self._originals["connect_ex"](sock, address)
        return result

    def _sendto(self, sock: socket.socket, data: Any, *args: Any) -> int:
        if self._blocked(sock, args[-1]):
            raise self._refuse(_describe(args[-1]) + " (UDP)", args[-1], "udp")
        result: int = self._originals["sendto"](sock, data, *args)
        return result

    def acquire(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return
            guard = self
            for name in ("connect", "connect_ex", "sendto"):
                # None: inherited from _socket.socket, restored by deleting ours.
                self._saved[name] = socket.socket.__dict__.get(name)
                self._originals[name] = getattr(socket.socket, name)

            def connect(sock: socket.socket, address: Any) -> None:
                guard._connect(sock, address)

            def connect_ex(sock: socket.socket, address: Any) -> int:
                return guard._connect_ex(sock, address)

            def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
                return guard._sendto(sock, data, *args)

            socket.socket.connect = connect  # type: ignore[method-assign,assignment]
            socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
            socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0:
                return
            for name, own in self._saved.items():
                if own is None:
                    delattr(socket.socket, name)
                else:
                    setattr(socket.socket, name, own)
            self._saved.clear()


network_guard = _Guard()
