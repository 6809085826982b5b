"""Real time for the harness, while a virtual clock moves the loop's time.

A :class:`~nexus_testkit.world.VirtualClock` makes ``time.monotonic()`` (and
with it every event loop's ``time()``) jump forward when a test advances it.
The harness's own guards against hangs must not jump with it: a 5 s time-out
on ``initialize()`` means five real seconds, whatever the plugin's clock says.

So the harness schedules its time-outs here.  ``real_call_later`` is
``loop.call_later`` plus a note that the handle measures real time; when the
clock jumps by ``d`` seconds it moves every such handle ``d`` seconds later
(:func:`shift_real_timers`), so each still fires at its real moment.  Without
a clock this is exactly ``loop.call_later``, at the cost of one weak dictionary entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "is_frozen",
    "is_real_timer",
    "real_call_later",
    "real_io",
    "real_io_pending",
    "real_monotonic",
    "set_frozen",
    "shift_real_timers",
    "wait_real",
]

# Bound once: the clock replaces time.monotonic, and marks its replacement
# with the original so that a module imported while a clock runs finds it.
_MONOTONIC: Callable[[], float] = getattr(time.monotonic, "__nexus_real__", time.monotonic)
# Keyed by identity: a TimerHandle hashes by its ``_when``, which shifting changes,
# so a WeakSet lost every handle once it had been moved.
_REAL_TIMERS: weakref.WeakValueDictionary[int, asyncio.TimerHandle] = weakref.WeakValueDictionary()
_FROZEN = [False]
#: One future per real I/O operation in flight (see real_io), done when it ends.
_IO: set[asyncio.Future[None]] = set()


def real_monotonic() -> float:
    """``time.monotonic()`` as the machine measures it, never moved by a virtual clock."""
    return _MONOTONIC()


def is_frozen() -> bool:
    """True while a virtual clock advances: loop time stands still between its jumps,
    so no timer (real-time ones included) fires until the advance is over."""
    return _FROZEN[0]


def set_frozen(frozen: bool) -> None:
    """Said by the virtual clock as an advance starts and ends."""
    _FROZEN[0] = frozen


def real_call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: Any
) -> asyncio.TimerHandle:
    """``loop.call_later(delay, callback, *args)``, firing after ``delay`` real seconds."""
    handle = loop.call_later(delay, callback, *args)
    _REAL_TIMERS[id(handle)] = handle
    return handle


def is_real_timer(handle: asyncio.TimerHandle) -> bool:
    """True for a handle made by :func:`real_call_later`."""
    return _REAL_TIMERS.get(id(handle)) is handle


def shift_real_timers(delta: float, loops: Iterable[asyncio.AbstractEventLoop] = ()) -> None:
    """Move every pending real-time handle ``delta`` seconds later on its loop's clock.

    Called by the virtual clock when it jumps by ``delta`` (negative when it
    is removed and loop time falls back to real time).
    """
    touched = {id(loop): loop for loop in loops}
    for handle in list(_REAL_TIMERS.values()):
        if handle.cancelled():
            continue
        handle._when += delta  # type: ignore[attr-defined]
        loop = getattr(handle, "_loop", None)
        if loop is not None:
            touched[id(loop)] = loop
    for loop in touched.values():
        scheduled = getattr(loop, "_scheduled", None)
        if scheduled is not None:
            heapq.heapify(scheduled)


async def wait_real(task: asyncio.Future[Any], timeout: float | None) -> bool:  # noqa: ASYNC109
    """Wait until ``task`` is done or ``timeout`` real seconds passed; True if it is done.

    ``asyncio.wait(timeout=...)`` would use a timer a virtual clock moves.
    """
    if timeout is None:
        await asyncio.wait({task})
        return True
    loop = asyncio.get_running_loop()
    expired: asyncio.Future[None] = loop.create_future()
    handle = real_call_later(loop, timeout, _expire, expired)
    try:
        await asyncio.wait({task, expired}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        handle.cancel()
        expired.cancel()
    return task.done()


def _expire(expired: asyncio.Future[None]) -> None:
    if not expired.done():
        expired.set_result(None)


@contextlib.contextmanager
def real_io() -> Iterator[None]:
    """Mark the block as real I/O in flight (a database driver's round trip).

    A virtual clock's ``advance()`` waits, in real time, for such blocks to end
    before it moves on or returns: the work they wait for happens on a thread
    or a socket the loop cannot see (aiosqlite answers through
    ``call_soon_threadsafe``, asyncpg through a socket), so without the mark
    the clock would return while a woken task is still waiting for its query.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        yield
        return
    done: asyncio.Future[None] = loop.create_future()
    _IO.add(done)
    try:
        yield
    finally:
        _IO.discard(done)
        done.set_result(None)


def real_io_pending(loop: asyncio.AbstractEventLoop) -> list[asyncio.Future[None]]:
    """The :func:`real_io` blocks in flight on ``loop``, as futures done when they end."""
    return [f for f in _IO if not f.done() and f.get_loop() is loop]
