"""Outbound HTTP fakes: answering the plugin's httpx requests in the test.

``NexusHTTP`` is a strict respx router: every route a test declares must be
requested (unless declared optional), and a request no route matches fails,
naming the host the plugin used, the routes there are and how to mock it,
both where the plugin made the call (it raises there) and at the end-of-test
check (so that a plugin swallowing the error still fails the test).

Built on respx rather than pytest-httpx: respx works without pytest (this
library never imports it), mocks at httpcore's level so that every
``httpx.Client``/``AsyncClient`` a plugin builds is covered, and has the
router, routes and call records this object exposes.  What is intercepted:
httpx (sync and async), and what is built on it.  What is not: aiohttp,
requests, urllib; with the network blocked their connections fail at the
socket with :class:`~nexus_testkit.NetworkBlockedError`.

``allow_hosts=["localhost:9000"]`` lets requests to a real local server
through (and opens the network guard for that port while the object is
active).  A name is matched as the plugin wrote it; ``localhost``,
``127.0.0.1`` and ``::1`` are one host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import respx
from respx.models import AllMockedAssertionError

from .._errors import NexusAssertionError
from ._guard import Guard

__all__ = ["NexusHTTP", "UnmockedRequestError"]

_LOCAL = frozenset({"localhost", "127.0.0.1", "::1"})
_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class UnmockedRequestError(AllMockedAssertionError):
    """A request of the plugin that no route of :class:`NexusHTTP` matched."""

    def __init__(self, message: str, request: httpx.Request) -> None:
        super().__init__(message)
        self.request = request


UnmockedRequestError.__module__ = "nexus_testkit"


def _parse_host(entry: str) -> tuple[str, int]:
    host, sep, port = str(entry).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"allow_hosts takes 'host:port' entries (like 'localhost:9000'), got {entry!r}"
        )
    return host.strip("[]").lower(), int(port)


def _url(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None, fragment=None))


def _advice(method: str, url: str) -> str:
    call = method.lower()
    target = f"{call}({url!r})" if call in _METHODS else f"request({method!r}, {url!r})"
    return f"nexus_http.{target}.respond(200, json=...)"


def _port(url: httpx.URL) -> int:
    if url.port is not None:
        return url.port
    return 443 if url.scheme == "https" else 80


class _Router(respx.MockRouter):
    """respx's router, whose misses go to the owning :class:`NexusHTTP`."""

    owner: NexusHTTP

    def _last(self) -> bool:
        # Another respx router started later (a test's own respx.mock) gets its
        # chance at the request first; only the last one reports the miss.
        mocker = getattr(self, "Mocker", None)
        routers = getattr(mocker, "routers", [self])
        return bool(routers) and routers[-1] is self

    def resolve(self, request: httpx.Request) -> Any:
        __tracebackhide__ = True
        try:
            return super().resolve(request)
        except AllMockedAssertionError:
            self.owner._miss(request, self._last())
            return self.owner._passthrough.resolve(request)

    async def aresolve(self, request: httpx.Request) -> Any:
        __tracebackhide__ = True
        try:
            return await super().aresolve(request)
        except AllMockedAssertionError:
            self.owner._miss(request, self._last())
            return await self.owner._passthrough.aresolve(request)


class NexusHTTP(Guard):
    """Answers a plugin's outbound httpx requests; strict by default.

    ::

        with NexusHTTP() as http:
            route = http.get("https://api.example.com/items").respond(200, json=[1, 2])
            ...                          # the plugin calls the API
            assert route.call_count == 1
        # leaving runs verify(): unmatched requests and unused routes fail

    Each ``get``/``post``/... returns respx's ``Route`` (``.respond()``,
    ``.mock(side_effect=...)``, ``.calls``).  ``optional=True`` exempts a
    route from the end-of-test check.  ``calls`` lists every answered
    request with its response; ``unmatched`` the requests no route matched.
    """

    verify_on_exit = True

    def __init__(self, *, allow_hosts: Iterable[str] = (), base_url: str | None = None) -> None:
        if isinstance(allow_hosts, str):
            allow_hosts = [allow_hosts]
        self.allow_hosts: tuple[tuple[str, int], ...] = tuple(_parse_host(h) for h in allow_hosts)
        self._router = _Router(assert_all_called=False, assert_all_mocked=True, base_url=base_url)
        self._router.owner = self
        self._passthrough = respx.Router(assert_all_called=False)
        self._passthrough.route().pass_through()
        self._described: list[tuple[respx.Route, str, bool]] = []
        #: Requests no route matched, in order.
        self.unmatched: list[httpx.Request] = []
        self._depth = 0
        self._guarded: list[tuple[str, int]] = []

    # ------------------------------------------------------------ declaring routes

    def request(
        self, method: str, url: str | None = None, *, optional: bool = False, **lookups: Any
    ) -> respx.Route:
        """A route for ``method url`` (respx lookups such as ``params=`` or ``json=`` allowed)."""
        route = self._router.request(method.upper(), url, **lookups)
        extra = "".join(f" {k}={v!r}" for k, v in lookups.items())
        self._remember(route, f"{method.upper()} {url or '*'}{extra}", optional)
        return route

    def get(self, url: str | None = None, *, optional: bool = False, **lookups: Any) -> respx.Route:
        """A route for ``GET url``."""
        return self.request("GET", url, optional=optional, **lookups)

    def post(
        self, url: str | None = None, *, optional: bool = False, **lookups: Any
    ) -> respx.Route:
        """A route for ``POST url``."""
        return self.request("POST", url, optional=optional, **lookups)

    def put(self, url: str | None = None, *, optional: bool = False, **lookups: Any) -> respx.Route:
        """A route for ``PUT url``."""
        return self.request("PUT", url, optional=optional, **lookups)

    def patch(
        self, url: str | None = None, *, optional: bool = False, **lookups: Any
    ) -> respx.Route:
        """A route for ``PATCH url``."""
        return self.request("PATCH", url, optional=optional, **lookups)

    def delete(
        self, url: str | None = None, *, optional: bool = False, **lookups: Any
    ) -> respx.Route:
        """A route for ``DELETE url``."""
        return self.request("DELETE", url, optional=optional, **lookups)

    def route(self, *patterns: Any, optional: bool = False, **lookups: Any) -> respx.Route:
        """A route from respx patterns and lookups (``host=``, ``path__regex=``...)."""
        route = self._router.route(*patterns, **lookups)
        self._remember(route, repr(route.pattern), optional)
        return route

    def _remember(self, route: respx.Route, description: str, optional: bool) -> None:
        # respx returns the existing route for an identical pattern.
        self._described = [d for d in self._described if d[0] is not route]
        self._described.append((route, description, optional))

    # ------------------------------------------------------------ what was recorded

    @property
    def calls(self) -> Any:
        """respx's ``CallList`` of answered requests: ``(request, response)`` pairs."""
        return self._router.calls

    @property
    def routes(self) -> list[respx.Route]:
        """The declared routes, in order."""
        return [route for route, _, _ in self._described]

    def _routes_listing(self) -> str:
        if not self._described:
            return "- (none)"
        return "\n".join(
            f"- {text}" + (" (optional)" if optional else "") + f", called {route.call_count}x"
            for route, text, optional in self._described
        )

    def _allowed(self, request: httpx.Request) -> bool:
        host, port = (request.url.host or "").lower(), _port(request.url)
        for allowed, allowed_port in self.allow_hosts:
            same = host == allowed or (host in _LOCAL and allowed in _LOCAL)
            if same and port == allowed_port:
                return True
        return False

    def _miss(self, request: httpx.Request, last: bool) -> None:
        """Return for a request to let through (an allowed host), else raise."""
        __tracebackhide__ = True
        if self._allowed(request):
            return
        if not last:
            raise AllMockedAssertionError(f"RESPX: {request!r} not mocked!")
        self.unmatched.append(request)
        method, url = request.method, _url(request)
        raise UnmockedRequestError(
            f"pytest-nexus: no mock for the plugin's request {method} {url} "
            f"(host {request.url.host!r}).\nMocked routes:\n{self._routes_listing()}\n"
            f"Mock it in the test: {_advice(method, url)}",
            request,
        )

    def verify(self) -> None:
        """End-of-test check: requests no route matched, routes never requested.

        Raises :class:`~nexus_testkit.NexusAssertionError` listing each.
        """
        parts = []
        if self.unmatched:
            listing = "\n".join(
                f"- {r.method} {_url(r)} (host {r.url.host!r})" for r in self.unmatched
            )
            first = self.unmatched[0]
            parts.append(
                f"The plugin made HTTP requests that no mock answered:\n{listing}\n"
                f"Mocked routes:\n{self._routes_listing()}\n"
                f"Mock each in the test, e.g. {_advice(first.method, _url(first))}; "
                "a real local server can be let through with allow_hosts=['localhost:9000']."
            )
        unused = [
            (text, route)
            for route, text, optional in self._described
            if not optional
            if not route.called
        ]
        if unused:
            listing = "\n".join(f"- {text}" for text, _ in unused)
            parts.append(
                f"Mocked HTTP routes that the plugin never requested:\n{listing}\n"
                "Remove them, or declare a route that is not always requested optional: "
                "nexus_http.get(url, optional=True)."
            )
        if parts:
            raise NexusAssertionError("\n\n".join(parts))

    # ------------------------------------------------------------ entering

    def start(self) -> None:
        """Start intercepting httpx requests (what entering does)."""
        self._depth += 1
        if self._depth > 1:
            return
        from ..host._network import network_guard

        for host, port in self.allow_hosts:
            network_guard.allow(host, port)
            self._guarded.append((host, port))
        self._router.start()

    def stop(self) -> None:
        """Stop intercepting; the records stay for :meth:`verify`."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        from ..host._network import network_guard

        self._router.stop(clear=False, reset=False, quiet=True)
        for host, port in self._guarded:
            network_guard.disallow(host, port)
        self._guarded.clear()

    def __repr__(self) -> str:
        return f"<NexusHTTP {len(self._described)} route(s), {len(self.calls)} call(s)>"
