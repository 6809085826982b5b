"""Time-outs that say where a plugin's coroutine was stuck.

``run_with_timeout`` and ``Deadline`` bound a call into plugin code
(initialize, shutdown, a handler, a route) and, when the time runs out, name
the innermost frame the coroutine was waiting in: the one line a user needs
to fix a hang.  Used by the host and by the event bus fakes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import PluginTimeoutError
from ._frames import HARNESS_DIR
from ._interrupts import (
    PluginHangInterrupt,
    PluginKeyboardInterrupt,
    interrupt_after,
    is_user_interrupt,
    user_interrupts,
)
from ._realtime import real_call_later, wait_real

if TYPE_CHECKING:
    from .host._tasks import TaskTracker

__all__ = [
    "Deadline",
    "PluginExit",
    "abandon",
    "resume",
    "run_with_timeout",
    "where_waiting",
]

T = TypeVar("T")
_ASYNCIO = str(Path(asyncio.__file__).parent)


@types.coroutine
def resume(coro: Any, first: Any) -> Generator[Any, Any, Any]:
    """Await the rest of a coroutine whose first step already ran and yielded ``first``.

    What ``await`` does, by hand: hand each value the coroutine yields to the
    task, and pass back what the task sends or throws (a cancellation).
    """
    step: Any = first
    while True:
        try:
            value = yield step
        except BaseException as exc:  # thrown in by the task: pass it on
            try:
                step = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                step = coro.send(value)
            except StopIteration as done:
                return done.value


def where_waiting(task: asyncio.Task[Any], prefer: str | None = None) -> str:
    """``file:line in function`` of the innermost frame a task is suspended in.

    ``Task.get_stack()`` gives only the outermost coroutine frame; the frame
    a user needs is at the end of the ``cr_await`` chain.  Frames of asyncio
    and of the harness are skipped.
    """
    frames = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        if frame.f_code is resume.__code__:
            # resume() drives a handler's coroutine by hand: the
            # handler is in its locals, not in an await chain.
            awaitable = frame.f_locals.get("coro")
            continue
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    # The plugin's own innermost frame when there is one, else the innermost
    # frame outside asyncio and the harness.
    candidates = [f for f in frames if not f.f_code.co_filename.startswith((HARNESS_DIR, _ASYNCIO))]
    if prefer is not None:
        own = [f for f in candidates if _resolved(f.f_code.co_filename).startswith(prefer)]
        candidates = own or candidates
    if not candidates:
        return ""
    frame = candidates[-1]
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _resolved(filename: str) -> str:
    try:
        return str(Path(filename).resolve())
    except OSError:
        return filename


def abandon(task: asyncio.Task[Any]) -> None:
    """Close a task's coroutine that refuses to be cancelled."""
    # A coroutine that refuses even to close cannot be helped further.
    with contextlib.suppress(BaseException):
        task.get_coro().close()


class Deadline:
    """``async with Deadline(5, "GET /x", prefer=dir):`` cancels the block after the time-out
    and raises :class:`PluginTimeoutError` naming the frame it was stuck in.

    ``asyncio.timeout`` does the cancelling but loses that frame; this records it
    from the loop callback that cancels, when the task is suspended in it.
    """

    def __init__(self, timeout: float | None, what: str, prefer: str | None = None) -> None:
        self.timeout = timeout
        self.what = what
        self.prefer = prefer
        self.stuck: str | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._alarm: contextlib.ExitStack | None = None

    def _expire(self) -> None:
        assert self._task is not None
        self.stuck = where_waiting(self._task, self.prefer)
        self._task.cancel()

    async def __aenter__(self) -> Deadline:
        if self.timeout is not None:
            self._task = asyncio.current_task()
            # Real seconds, also while a virtual clock moves the loop's time.
            loop = asyncio.get_running_loop()
            self._handle = real_call_later(loop, self.timeout, self._expire)
            # What blocks the loop never lets that callback run: SIGALRM cuts it.
            self._alarm = contextlib.ExitStack()
            self._alarm.enter_context(interrupt_after(self.timeout, self.prefer))
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        __tracebackhide__ = True
        if self._handle is not None:
            self._handle.cancel()
        if self._alarm is not None:
            self._alarm.close()
            self._alarm = None
        if exc_type is not None and issubclass(exc_type, PluginHangInterrupt):
            assert self.timeout is not None
            self.stuck = blocked_at(exc)
            raise PluginTimeoutError(self.what, self.timeout, self.stuck) from None
        if (
            self.stuck is not None
            and exc_type is asyncio.CancelledError
            and self._task is not None
            and self._task.uncancel() == 0
        ):
            assert self.timeout is not None
            raise PluginTimeoutError(self.what, self.timeout, self.stuck) from None


class PluginExit(Exception):
    """Carries a ``SystemExit`` raised by plugin code out of its task.

    asyncio re-raises ``SystemExit`` from a task straight out of the event
    loop, which would end the test run; wrapped, it is an ordinary failure.
    """

    def __init__(self, exit: SystemExit) -> None:
        super().__init__(f"SystemExit: {exit.code}")
        self.exit = exit


def blocked_at(interrupt: PluginHangInterrupt) -> str:
    """The stuck site of a synchronous hang that SIGALRM interrupted, as reports show it."""
    return f"{interrupt.site} (blocking the event loop; interrupted)"


async def _guarded(coro: Coroutine[Any, Any, T], since: int) -> T:
    try:
        return await coro
    except SystemExit as exc:
        raise PluginExit(exc) from exc
    except KeyboardInterrupt as exc:
        # The user's Ctrl-C stops the run; the plugin's own fails the call.
        if is_user_interrupt(since):
            raise
        raise PluginKeyboardInterrupt(exc) from exc


async def run_with_timeout(
    coro: Coroutine[Any, Any, T],
    timeout: float | None,  # noqa: ASYNC109 - we need the stuck frame, which asyncio.timeout loses
    what: str,
    tracker: TaskTracker | None = None,
    prefer: str | None = None,
) -> T:
    """Await ``coro`` in a task of its own; on time-out, say where it was stuck.

    A synchronous hang (the loop held past the time-out) is interrupted by
    SIGALRM in the main thread and reported the same way.  A
    ``KeyboardInterrupt`` raised by the coroutine (not the user's Ctrl-C)
    comes out as :class:`PluginKeyboardInterrupt`, which cannot stop the run.

    A plain ``wait_for`` would cancel the coroutine and lose the frame it was
    waiting in, which is the one thing a user needs to fix a hang.
    """
    # Always a task of its own, from the first step: a coroutine moved to
    # another task after it started would leave asyncio.timeout, TaskGroup or
    # a cancel scope it entered on the wrong task.
    if tracker is not None:
        tracker.paused += 1
    try:
        task = asyncio.ensure_future(_guarded(coro, user_interrupts()))
    finally:
        if tracker is not None:
            tracker.paused -= 1
    task.set_name(f"nexus-testkit: {what}")
    try:
        with interrupt_after(timeout, prefer):
            done = await wait_real(task, timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        stuck_at = where_waiting(task, prefer)
        task.cancel()
        # A hostile coroutine may swallow the cancellation: give it a moment, no more.
        await wait_real(task, 0.5)
        assert timeout is not None
        if not task.done():
            # Still running: closing the coroutine keeps it from hanging the loop's
            # shutdown (asyncio.run and pytest-asyncio wait for every task).
            abandon(task)
            stuck_at += " (it ignored the cancellation and was abandoned)"
        raise PluginTimeoutError(what, timeout, stuck_at)
    try:
        return task.result()
    except PluginExit as exc:
        raise exc.exit from None
    except PluginHangInterrupt as exc:
        assert timeout is not None
        raise PluginTimeoutError(what, timeout, blocked_at(exc)) from None
