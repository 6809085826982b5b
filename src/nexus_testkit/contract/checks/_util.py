"""Small helpers the checks share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

__all__ = ["RECORDED", "TIMEOUT_FIX", "bullets", "timed_out"]

#: Evidence the checks over everything recorded (events, permissions, secrets,
#: blocking) read wherever the run recorded it, without making its probe run.
RECORDED = frozenset(
    {"exercise", "get_ok", "handlers", "health_after", "restart", "config_valid", "round_trip"}
)

#: The fix of any failure that is a time-out, whatever the check.
TIMEOUT_FIX = (
    "The call did not finish within the time-out: find the wait at the frame shown and bound "
    "it (asyncio.timeout(), a client time-out), or move slow work to a background task; raise "
    "--nexus-timeout only if the work is legitimately slow."
)


def bullets(lines: Iterable[str]) -> str:
    """One ``- line`` per line; a line that occurs more than once is written
    once, where it first occurred, as ``- (xN) line``.  A contract run starts
    the plugin many times, so the same log record or task would otherwise be
    listed once per start."""
    counts = Counter(lines)
    return "\n".join(
        f"- (x{counts[line]}) {line}" if counts[line] > 1 else f"- {line}"
        for line in counts  # first occurrences, in order
    )


def timed_out(text: str | None) -> bool:
    return bool(text) and ("timed out" in str(text) or "did not finish within" in str(text))
