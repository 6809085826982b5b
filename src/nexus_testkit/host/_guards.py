"""The process-wide guards of a running host, each a context manager that undoes itself.

A host enters them in one ``ExitStack`` (see ``PluginHost``): the task
tracker on the loop, the network guard, the blocking monitor.  What a guard
saw while it was on is appended to the list it was given (the host's
``leftovers``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._app import lifespan_files
from ._blocking import Block, BlockingMonitor
from ._network import NetworkAttempt, network_guard
from ._tasks import TaskTracker

__all__ = ["blocking_monitored", "network_guarded", "tracking"]


@contextlib.contextmanager
def tracking(tracker: TaskTracker) -> Iterator[TaskTracker]:
    """Record the tasks created on the running loop (not asgi-lifespan's own)."""
    tracker.install()
    tracker.ignored_files = lifespan_files()
    try:
        yield tracker
    finally:
        tracker.uninstall()


@contextlib.contextmanager
def network_guarded(
    blocked: list[str], attempts: list[NetworkAttempt] | None = None, root: str | None = None
) -> Iterator[None]:
    """No network use for the block; the destinations refused go to ``blocked`` and, as
    :class:`NetworkAttempt` records, to ``attempts``; ``root`` locates them (the plugin's
    directory)."""
    network_guard.acquire(root)
    first = len(network_guard.attempts)
    try:
        yield
    finally:
        mine = network_guard.attempts[first:]
        blocked.extend(a.destination for a in mine)
        if attempts is not None:
            attempts.extend(mine)
        network_guard.release(root)


@contextlib.contextmanager
def blocking_monitored(threshold: float, prefer: str, blocks: list[Block]) -> Iterator[None]:
    """Watch the loop for the block; each stretch blocked longer than ``threshold``
    (imports excepted) goes to ``blocks``."""
    monitor = BlockingMonitor(threshold, prefer=(prefer,)).start()
    try:
        yield
    finally:
        monitor.stop()
        blocks.extend(b for b in monitor.blocks if not b.importing)
