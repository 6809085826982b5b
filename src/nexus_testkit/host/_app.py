"""Serving a plugin's routers: the FastAPI app, its lifespan, and the in-process client.

Each router of ``get_api_routes()`` is mounted at ``/api/plugins/{name}``
plus the router's own prefix, as the platform does, in a FastAPI app run
under ``asgi_lifespan.LifespanManager`` and reached through
``httpx.AsyncClient`` over ``ASGITransport`` (no socket).  The client
outlives a restart: :meth:`HostClient.serve` points the same transport at
the new app.

FastAPI, httpx and asgi-lifespan are imported when a host starts, not when
this module is imported.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._deadlines import Deadline
from .._describe import describe_exception, safe_repr
from .._errors import PluginExitError, PluginStartError
from .._interrupts import interrupt_after, is_user_interrupt, raised_at, user_interrupts

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

__all__ = ["HostClient", "build_app", "lifespan_files"]

#: Builds the start error for a problem of ``stage="routes"``:
#: ``(problem, cause, details)``.
RoutesError = Callable[[str, "BaseException | None", str], PluginStartError]


def build_app(
    plugin: Any,
    name: str,
    prefix: str,
    directory: Path,
    error: RoutesError,
    timeout: float | None = None,
) -> FastAPI:
    """A FastAPI app with the plugin's routers mounted under ``prefix``.

    A ``get_api_routes()`` that raises or returns anything but a list of
    ``APIRouter`` is ``error(...)``, raised.
    """
    from fastapi import APIRouter, FastAPI

    from ._loader import plugin_frames, resolved_directory

    since = user_interrupts()
    try:
        with interrupt_after(timeout, resolved_directory(str(directory))):
            routers = plugin.get_api_routes()
    except BaseException as exc:  # SystemExit from plugin code must not end the run
        if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
            raise
        raise error(
            f"get_api_routes() raised {describe_exception(exc)}",
            exc,
            plugin_frames(exc, directory),
        ) from None
    if routers is None:
        routers = []
    if not isinstance(routers, (list, tuple)):
        raise error(
            f"get_api_routes() returned {type(routers).__name__}; expected a list of "
            "fastapi.APIRouter",
            None,
            "",
        )
    bad = [r for r in routers if not isinstance(r, APIRouter)]
    if bad:
        raise error(
            f"get_api_routes() returned {safe_repr(bad[0])}; expected a list of fastapi.APIRouter",
            None,
            "",
        )
    app = FastAPI(title=f"{name} under nexus-testkit")
    try:
        for router in routers:
            # include_router adds router.prefix after this one, which is the
            # documented mount point /api/plugins/{name}{router.prefix}.
            app.include_router(router, prefix=prefix, tags=[name])
    except Exception as exc:
        raise error(
            f"mounting the routers failed: {describe_exception(exc)}",
            exc,
            plugin_frames(exc, directory),
        ) from None
    return app


@functools.cache
def lifespan_files() -> tuple[str, ...]:
    """Where asgi-lifespan creates its own task: not a task of the plugin's."""
    import asgi_lifespan

    return (str(Path(asgi_lifespan.__file__).parent),)


class HostClient:
    """The host's ``httpx.AsyncClient``, one per host, whatever app it serves."""

    def __init__(
        self, base_url: str, *, timeout: float | None, prefer: str, raise_app_exceptions: bool
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.prefer = prefer
        self.raise_app_exceptions = raise_app_exceptions
        self.client: httpx.AsyncClient | None = None
        self._transport: Any = None
        #: The host's ProcessWatch: each request is a call into the plugin.
        self.watch: Any = None

    @contextlib.asynccontextmanager
    async def serve(self, app: FastAPI) -> AsyncIterator[FastAPI]:
        """Run ``app``'s lifespan for the block and send the client's requests to it."""
        from asgi_lifespan import LifespanManager

        async with LifespanManager(app) as manager:
            if self._transport is None:
                import httpx

                self._transport = _transport_class()(
                    app=manager.app, raise_app_exceptions=self.raise_app_exceptions
                )
                self._transport.request_timeout = self.timeout
                self._transport.prefer = self.prefer
                self._transport.watch = self.watch
                self.client = httpx.AsyncClient(transport=self._transport, base_url=self.base_url)
            else:
                # Same client object across restarts: tests keep their reference.
                self._transport.app = manager.app
            yield app

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


def _transport_class() -> Any:
    import httpx

    # One class per httpx module object: built once per process, but rebuilt
    # if httpx itself was imported again (pytester's inline runs do that).
    return _build_transport_class(httpx.ASGITransport)


@functools.cache
def _build_transport_class(base: type) -> Any:
    class _HostTransport(base):  # type: ignore[misc]
        """ASGI transport whose requests time out, saying where the route was stuck."""

        request_timeout: float | None = None
        prefer: str | None = None
        watch: Any = None

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            __tracebackhide__ = True
            what = f"{request.method} {request.url.path}"
            since = user_interrupts()
            watching = (
                self.watch.call(what, light=True)
                if self.watch is not None
                else contextlib.nullcontext()
            )
            try:
                with watching:
                    async with Deadline(self.request_timeout, what, self.prefer):
                        response: httpx.Response = await super().handle_async_request(request)
                        return response
            except (SystemExit, KeyboardInterrupt) as exc:
                # Raised by the route: it would leave the event loop and end the run.
                if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
                    raise
                raise PluginExitError(what, exc, raised_at(exc, self.prefer)) from None

    return _HostTransport
