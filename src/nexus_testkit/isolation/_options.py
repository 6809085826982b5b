"""How the contract is isolated: where plugin code runs and the limits it runs under.

Light on purpose (no import beyond the standard library): the pytest plugin
validates ``--nexus-isolation`` with it at start-up.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal

__all__ = ["ISOLATION_MODES", "IsolationOptions", "process_isolation_available"]

ISOLATION_MODES = ("process", "inline")
Mode = Literal["process", "inline"]

#: What a worker may write to stdout and to stderr before the rest is dropped.
OUTPUT_LIMIT = 64 * 1024
#: Address space a worker may add to what the fork server had (RLIMIT_AS).
MEMORY_LIMIT = 2 * 1024**3


def process_isolation_available() -> bool:
    """True where workers can be forked from a server: Linux (fork, AF_UNIX SOCK_SEQPACKET)."""
    return sys.platform.startswith("linux")


@dataclass(frozen=True)
class IsolationOptions:
    """Where the contract runs the plugin, and the hard limits of a worker process.

    ``mode``: ``"process"`` (default) runs each plugin's whole contract in a
    worker process forked from a server that has imported the heavy modules;
    ``"inline"`` runs it in the calling process (for a debugger).
    ``call_timeout``: seconds one call into the plugin (its import included)
    may take before the worker is killed; default ``2 * timeout + 1`` of the
    contract's per-call ``timeout``, so that the contract's own time-out
    reports an awaiting hang first and this limit cuts what blocks.
    ``plugin_timeout``: seconds the whole contract of one plugin may take;
    default ``call_timeout * (20 + 4 * examples)``.
    ``memory_limit``: bytes of address space a worker may add (RLIMIT_AS);
    ``None`` for no limit.  ``output_limit``: bytes kept of what the plugin
    writes to stdout and to stderr each.
    """

    mode: Mode = "process"
    call_timeout: float | None = None
    plugin_timeout: float | None = None
    memory_limit: int | None = MEMORY_LIMIT
    output_limit: int = OUTPUT_LIMIT

    def __post_init__(self) -> None:
        if self.mode not in ISOLATION_MODES:
            raise ValueError(
                f"{self.mode!r} is not a valid isolation. Valid isolations: "
                f"{', '.join(ISOLATION_MODES)}."
            )
        for name in ("call_timeout", "plugin_timeout"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.memory_limit is not None and not (
            _whole(self.memory_limit) and self.memory_limit > 0
        ):
            raise ValueError(
                f"memory_limit must be a positive number of bytes, got {self.memory_limit!r}"
            )
        if not (_whole(self.output_limit) and self.output_limit >= 0):
            raise ValueError(f"output_limit must be a number of bytes, got {self.output_limit!r}")

    def limits(self, timeout: float, examples: int) -> tuple[float, float]:
        """(per-call, per-plugin) wall-clock limits, from the contract's timeout and examples."""
        call = self.call_timeout if self.call_timeout is not None else 2 * timeout + 1.0
        plugin = (
            self.plugin_timeout if self.plugin_timeout is not None else call * (20 + 4 * examples)
        )
        return call, plugin


def _positive(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
    )


def _whole(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)
