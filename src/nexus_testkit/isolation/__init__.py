"""Process isolation of the contract: each plugin's whole contract runs in a worker
process forked from a server that has imported the heavy modules, under hard
wall-clock and memory limits, its output captured; the parent gets the report
over a private channel and survives whatever the plugin does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "ISOLATION_MODES": "_options",
    "IsolationOptions": "_options",
    "process_isolation_available": "_options",
    "IsolationError": "_pool",
    "WorkerPool": "_pool",
    "check_plugin": "_pool",
    "close_shared_pool": "_pool",
    "shared_pool": "_pool",
    "start_together": "_pool",
}
__all__ = [
    "ISOLATION_MODES",
    "IsolationError",
    "IsolationOptions",
    "WorkerPool",
    "check_plugin",
    "close_shared_pool",
    "process_isolation_available",
    "shared_pool",
    "start_together",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._options import ISOLATION_MODES, IsolationOptions, process_isolation_available
    from ._pool import (
        IsolationError,
        WorkerPool,
        check_plugin,
        close_shared_pool,
        shared_pool,
        start_together,
    )
