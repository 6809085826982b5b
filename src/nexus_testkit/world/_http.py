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

The interception is installed once per process, at the first start: one
router (:class:`_Dispatcher`) registered with respx's httpcore mocker that
hands each request to the :class:`NexusHTTP` objects active at that moment
and passes it through when none is.  Patching httpcore for each host and
unpatching it after (what ``respx.mock`` does on entry and exit) was a third
of a host's start-up; the dispatcher costs one list lookup per request.

``allow_hosts=["localhost:9000"]`` lets requests to a real local server
through (and opens the network guard for that port while the object is
active).  A name is matched as the plugin wrote it; ``localhost``,
``127.0.0.1`` and ``::1`` are one host.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any

import httpx
import respx
from respx.mocks import HTTPCoreMocker
from respx.models import AllMockedAssertionError, CallList, PassThrough

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


#: The NexusHTTP objects started and not yet stopped, oldest first.
_active: list[NexusHTTP] = []


class _Dispatcher(respx.Router):
    """The process's one router in respx's httpcore mocker: serves the active NexusHTTP.

    respx asks its routers in the order they were registered and gives a
    request that one router refuses (``AllMockedAssertionError``) to the
    next; a router started after this one (a test's own ``respx.mock``)
    therefore gets the requests the NexusHTTP objects have no route for.
    """

    def __init__(self) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True)

    def _later(self) -> bool:
        routers = HTTPCoreMocker.routers
        return self in routers and routers[-1] is not self

    @staticmethod
    def _through(request: httpx.Request) -> PassThrough:
        # respx then sends it with the transport it patched (the real one).
        return PassThrough(f"let through: {request!r}", request=request, origin=None)  # type: ignore[arg-type]

    def handler(self, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        for http in reversed(_active):
            response = http._answer(request)
            if response is not None:
                _record(request, "mocked")
                return response
        return self._miss(request)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        for http in reversed(_active):
            response = await http._aanswer(request)
            if response is not None:
                _record(request, "mocked")
                return response
        return self._miss(request)

    def _miss(self, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        if _active:
            # The newest object reports it (a host's own, or the test's
            # nexus_http); it returns for a host it lets through.
            _active[-1]._miss(request, last=not self._later())
        elif self._later():  # a router started after this one may know it
            raise AllMockedAssertionError(f"RESPX: {request!r} not mocked!")
        raise self._through(request)


def _record(request: httpx.Request, outcome: str) -> None:
    # The host name as the plugin wrote it in the URL, before any DNS look-up.
    from ..host._outbound import outbound

    if not outbound.listening or (outcome == "allowed" and _passing_through()):
        return
    outbound.record(request.url.host or "", _port(request.url), via="httpx", outcome=outcome)


def _passing_through() -> bool:
    """True when respx resolves again a request it is letting through: it patches
    httpcore's pool and its connections, so a let-through request comes back once
    more, from inside the first mock call (two of respx's ``mock`` frames on the stack)."""
    frame: FrameType | None = sys._getframe(2)
    mocks = 0
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("mock", "amock") and code.co_filename.endswith(_RESPX_MOCKS):
            mocks += 1
            if mocks > 1:
                return True
        frame = frame.f_back
    return False


_RESPX_MOCKS = os.path.join("respx", "mocks.py")


_dispatcher: _Dispatcher | None = None


def _install() -> None:
    """Register the dispatcher with respx's httpcore mocker, if it is not (any more)."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    if _dispatcher not in HTTPCoreMocker.routers:
        HTTPCoreMocker.register(_dispatcher)
    # Mocker.start patches once; a forced stop (respx's restart) unpatched it.
    HTTPCoreMocker.start()


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
        self._base_url = base_url
        # Built at the first route: most hosts never declare one.
        self._routes: respx.Router | None = None
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
        route = self._router().request(method.upper(), url, **lookups)
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
        route = self._router().route(*patterns, **lookups)
        self._remember(route, repr(route.pattern), optional)
        return route

    def _router(self) -> respx.Router:
        if self._routes is None:
            self._routes = respx.Router(
                assert_all_called=False, assert_all_mocked=True, base_url=self._base_url
            )
        return self._routes

    def _answer(self, request: httpx.Request) -> httpx.Response | None:
        """The response of the route that matches ``request``, or None."""
        __tracebackhide__ = True
        if self._routes is None:
            return None
        try:
            return self._routes.handler(request)
        except AllMockedAssertionError:
            return None

    async def _aanswer(self, request: httpx.Request) -> httpx.Response | None:
        __tracebackhide__ = True
        if self._routes is None:
            return None
        try:
            return await self._routes.async_handler(request)
        except AllMockedAssertionError:
            return None

    def _remember(self, route: respx.Route, description: str, optional: bool) -> None:
        # respx returns the existing route for an identical pattern.
        self._described = [d for d in self._described if d[0] is not route]
        self._described.append((route, description, optional))

    # ------------------------------------------------------------ what was recorded

    @property
    def calls(self) -> Any:
        """respx's ``CallList`` of answered requests: ``(request, response)`` pairs."""
        return self._routes.calls if self._routes is not None else CallList()

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
        """Return for a request to let through (an allowed host), else raise.

        ``last``: no router after this one could answer it (respx's own).
        """
        __tracebackhide__ = True
        if self._allowed(request):
            _record(request, "allowed")
            return
        if not last:
            raise AllMockedAssertionError(f"RESPX: {request!r} not mocked!")
        _record(request, "refused")
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
        _install()
        _active.append(self)

    def stop(self) -> None:
        """Stop intercepting; the records stay for :meth:`verify`."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        from ..host._network import network_guard

        if self in _active:
            _active.remove(self)
        for host, port in self._guarded:
            network_guard.disallow(host, port)
        self._guarded.clear()

    def __repr__(self) -> str:
        return f"<NexusHTTP {len(self._described)} route(s), {len(self.calls)} call(s)>"
