"""Detecting synchronous work that blocks the event loop, and where it happens.

A heartbeat scheduled on the loop every few milliseconds records when the
loop last ran; a watchdog thread notices when the heartbeat is late and
samples the loop thread's stack at that moment.  The sample names the line
that is blocking (``time.sleep``, a CPU loop, a sync HTTP call), which no
after-the-fact measurement can.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from .._frames import HARNESS_DIR
from .._realtime import is_frozen, real_call_later, real_monotonic

__all__ = ["Block", "BlockingMonitor"]

_STDLIB = str(Path(asyncio.__file__).parent.parent)


@dataclass
class Block:
    """The loop did not run for ``duration`` seconds while ``during`` ran, stuck at ``site``."""

    duration: float
    site: str
    during: str
    #: The loop was busy importing a module: blocking by nature, usually not the plugin's doing.
    importing: bool = False


def _site(frame: FrameType | None, prefer: tuple[str, ...]) -> str:
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    # Innermost frame in the preferred directories (the plugin's own code),
    # else the innermost frame outside the standard library and the harness.
    for wanted in (prefer, None):
        for f in frames:
            filename = f.f_code.co_filename
            if wanted is not None and filename.startswith(wanted):
                return f"{filename}:{f.f_lineno} in {f.f_code.co_name}"
            if wanted is None and not filename.startswith((_STDLIB, HARNESS_DIR)):
                return f"{filename}:{f.f_lineno} in {f.f_code.co_name}"
    return "<unknown>"


def _importing(frame: FrameType | None) -> bool:
    # The import machinery's frames (not the program's own <module> frame,
    # which is at the bottom of every stack).
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


class BlockingMonitor:
    """Records each stretch of more than ``threshold`` seconds the loop was blocked.

    Use as ``async with BlockingMonitor(0.2, prefer=(plugin_dir,)) as monitor:``
    and set ``monitor.during`` to label what runs; ``monitor.blocks`` lists
    what was seen.
    """

    def __init__(
        self, threshold: float = 0.2, *, prefer: tuple[str, ...] = (), tick: float = 0.01
    ) -> None:
        self.threshold = threshold
        self.prefer = prefer
        self.tick = tick
        self.during = ""
        self.blocks: list[Block] = []
        self._beat = real_monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = threading.get_ident()

    def _heartbeat(self) -> None:
        self._beat = real_monotonic()
        assert self._loop is not None
        # On real time: under a virtual clock a 10 ms heartbeat on loop time would be a
        # timer for advance() to jump to 360 000 times in a simulated hour.
        self._handle = real_call_later(self._loop, self.tick, self._heartbeat)

    def _watch(self) -> None:
        current: Block | None = None
        while not self._stop.wait(self.tick):
            if is_frozen():  # a virtual clock advancing holds the heartbeat back, not a block
                self._beat = real_monotonic()
            lag = real_monotonic() - self._beat
            if lag > self.threshold:
                if current is None:
                    frame = sys._current_frames().get(self._loop_thread)
                    current = Block(
                        lag, _site(frame, self.prefer), self.during, importing=_importing(frame)
                    )
                    self.blocks.append(current)
                else:
                    current.duration = lag
            else:
                current = None

    async def __aenter__(self) -> BlockingMonitor:
        return self.start()

    def start(self) -> BlockingMonitor:
        """Start watching the running loop (call from a coroutine); :meth:`stop` ends it."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._heartbeat()
        self._thread = threading.Thread(
            target=self._watch, name="nexus-blocking-monitor", daemon=True
        )
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the heartbeat and the watchdog thread (idempotent)."""
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
