"""Tracking the asyncio tasks a plugin starts, and where each was created."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._frames import HARNESS_DIR

__all__ = ["TaskTracker", "TrackedTask"]

_ASYNCIO = str(Path(asyncio.__file__).parent)


@dataclass(frozen=True)
class TrackedTask:
    task: asyncio.Task[Any]
    created_at: str

    def describe(self) -> str:
        coro = self.task.get_coro()
        name = getattr(coro, "__qualname__", None) or repr(coro)
        return f"{self.task.get_name()} running {name}() created at {self.created_at}"


def _creation_site() -> str:
    # The innermost frame that is neither asyncio's nor the harness's own.
    # Walked by hand: traceback.extract_stack reads every frame's source line,
    # which made each task a plugin creates cost a tenth of a millisecond.
    frame: types.FrameType | None = sys._getframe(1)
    for _ in range(24):
        if frame is None:
            break
        code = frame.f_code
        if not code.co_filename.startswith((HARNESS_DIR, _ASYNCIO)):
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return "<unknown>"


class TaskTracker:
    """Records every task created on the loop while it is installed.

    It chains to any task factory already set on the loop, and removes itself
    only if it is still the loop's factory (another tool may have replaced it).
    ``paused`` suspends recording for the harness's own tasks.
    """

    def __init__(self) -> None:
        self.tasks: list[TrackedTask] = []
        self.paused = 0
        #: Files whose own tasks are not the plugin's (the platform bus's processor
        #: creates one per queue poll); tasks a plugin handler creates are still tracked.
        self.ignored_files: tuple[str, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._previous = loop.get_task_factory()
        loop.set_task_factory(self._factory)  # type: ignore[arg-type]

    def uninstall(self) -> None:
        loop = self._loop
        if loop is not None and loop.get_task_factory() == self._factory:
            loop.set_task_factory(self._previous)
        self._loop = None

    def _factory(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Future[Any]:
        if self._previous is not None:
            task = self._previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        # A task created while no task runs is a root task of the test runner
        # (pytest-asyncio runs each test and fixture step that way): not the plugin's.
        if not self.paused and asyncio.current_task(loop) is not None:
            site = _creation_site()
            if not (self.ignored_files and site.startswith(self.ignored_files)):
                self.tasks.append(TrackedTask(task, site))
        return task  # type: ignore[no-any-return]

    def pending(self) -> list[TrackedTask]:
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        return [t for t in self.tasks if not t.task.done() and t.task is not current]

    async def settle(self) -> list[TrackedTask]:
        """Let just-cancelled tasks finish, then return those still pending."""
        for _ in range(3):
            if not self.pending():
                break
            await asyncio.sleep(0)
        return self.pending()

    async def cancel_pending(self, grace: float = 1.0) -> None:
        """Cancel what is still pending so it cannot leak into the next test."""
        pending = [t.task for t in self.pending()]
        for task in pending:
            task.cancel()
        if pending:
            self.paused += 1
            try:
                await asyncio.wait(pending, timeout=grace)
            finally:
                self.paused -= 1
        for task in pending:
            if task.done() and not task.cancelled():
                task.exception()  # mark retrieved: no "never retrieved" noise
