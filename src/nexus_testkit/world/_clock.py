"""A virtual clock: simulated time for a plugin's periodic jobs.

``await clock.advance(900)`` runs, in order, every timer, sleep and
``call_later`` callback of the event loop that falls due in the next 900 s,
as if the time had passed, and returns in milliseconds.

How the clock moves (the one rule to remember): **simulated time = real time
+ everything advanced so far.**  Time never runs faster than real time on
its own, so a plugin's short ``asyncio.sleep(0.1)`` in ``initialize()``
simply takes its 0.1 s, a database driver or a thread completes at its real
pace without spurious time-outs, and only ``advance()`` jumps.  During a
jump the clock runs the loop until nothing is ready, waits for results of
threads started with ``run_in_executor``/``asyncio.to_thread``, then jumps
to the next timer due, until the target is reached.

What moves together: the loop's ``time()`` and ``time.monotonic()`` (the
clock replaces ``time.monotonic``; asyncio's loops read it), and
``time.time()``, ``datetime.now()``, ``date.today()`` through time-machine,
which patches them at the C level so that ``from time import time`` copies
move too.  ``time.perf_counter()`` stays real: use it to measure real
durations.  The harness's own time-outs are scheduled with
:func:`nexus_testkit._realtime.real_call_later` and keep measuring real time.

Why not looptime: it compacts time on its own whenever the loop is idle,
which is exactly when a socket (asyncpg) or a thread that does not go
through ``run_in_executor`` (aiosqlite's) is working, so real I/O meets
spurious time-outs; it turns the harness's hang guards into simulated time;
and installing it registers three pytest plugins in every run.  time-machine
is used for the wall clock because ``datetime.now()`` cannot be patched from
Python.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import weakref
from collections.abc import Callable
from importlib.metadata import version as _version
from typing import Any

from .._errors import NexusTestkitError
from .._realtime import (
    is_real_timer,
    real_io_pending,
    real_monotonic,
    set_frozen,
    shift_real_timers,
)
from ._guard import Guard

__all__ = ["ClockError", "VirtualClock"]

_MAX_ROUNDS = 100_000
_REAL_NS: Callable[[], int] = getattr(time.monotonic_ns, "__nexus_real__", time.monotonic_ns)


class ClockError(NexusTestkitError):
    """The virtual clock cannot do what was asked (wrong loop, a task that wakes too often)."""


ClockError.__module__ = "nexus_testkit"


class _OffsetState:
    # One per process: time.monotonic is one per process.  An instance, not class
    # attributes: the process-state guard compares the harness's classes on every
    # call into the plugin, and a class whose attributes change must be walked.
    def __init__(self) -> None:
        self.seconds = 0.0
        #: Set while advance() runs: time stands still between its jumps.
        self.frozen: float | None = None
        self.active: VirtualClock | None = None


_Offset = _OffsetState()


def _monotonic() -> float:
    frozen = _Offset.frozen
    return frozen if frozen is not None else real_monotonic() + _Offset.seconds


def _monotonic_ns() -> int:
    frozen = _Offset.frozen
    if frozen is not None:
        return round(frozen * 1e9)
    return _REAL_NS() + round(_Offset.seconds * 1e9)


_monotonic.__nexus_real__ = real_monotonic  # type: ignore[attr-defined]
_monotonic_ns.__nexus_real__ = _REAL_NS  # type: ignore[attr-defined]


class VirtualClock(Guard):
    """Simulated time for the event loop it is entered on.

    Use it as a context manager inside the test's event loop (a host enters
    one for you)::

        async with VirtualClock() as clock:
            task = asyncio.create_task(job())   # sleeps 300 s between runs
            await clock.advance(900)            # three runs, in milliseconds

    Entering the same clock again (a second host in the same test) is
    counted; another clock while one is active is a :class:`ClockError`.
    ``max_wakeups`` bounds one ``advance()``: a task sleeping 1 ms would
    otherwise cost millions of steps.  ``thread_wait`` is how long, in real
    seconds, the clock waits for a thread's result before it stops waiting
    for that one (a worker thread that runs for the whole test).
    """

    def __init__(self, *, max_wakeups: int = 100_000, thread_wait: float = 5.0) -> None:
        if max_wakeups < 1:
            raise ValueError(f"max_wakeups must be at least 1, got {max_wakeups!r}")
        if not thread_wait > 0:
            raise ValueError(f"thread_wait must be a positive number, got {thread_wait!r}")
        # Imported here, outside the test's event loop (a C extension and dateutil).
        import time_machine  # noqa: F401

        self.max_wakeups = max_wakeups
        self.thread_wait = thread_wait
        self._loop: asyncio.AbstractEventLoop | None = None
        self._depth = 0
        self._traveller: Any = None
        self._travel: Any = None
        self._saved: dict[str, Any] = {}
        self._threads: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
        self._long_threads: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
        #: Timer callbacks run by advance() so far.
        self.wakeups = 0
        #: The tasks (or callback functions) the last ``advance(max_task_wakeups=...)``
        #: stopped waking, with the simulated second at which each hit the cap.
        self.throttled: dict[Any, float] = {}
        self._advanced = 0.0
        self._frozen_at = 0.0

    # ------------------------------------------------------------ reading the time

    @property
    def running(self) -> bool:
        """True while the clock is entered."""
        return self._depth > 0

    @property
    def elapsed(self) -> float:
        """Seconds advanced so far (the sum of the ``advance()`` calls)."""
        return self._advanced

    @property
    def now(self) -> dt.datetime:
        """The simulated wall-clock time, an aware UTC datetime (``datetime.now(UTC)``)."""
        return dt.datetime.now(dt.UTC)

    def time(self) -> float:
        """The loop's time (``loop.time()``, ``time.monotonic()``)."""
        return time.monotonic()

    # ------------------------------------------------------------ entering

    def start(self) -> None:
        """Install the clock on the running event loop (what entering does)."""
        loop = asyncio.get_running_loop()
        if self._depth:
            if loop is not self._loop:
                raise ClockError(
                    "this VirtualClock runs on another event loop; a clock serves one loop "
                    "(check the loop scope of the fixtures that share it)"
                )
            self._depth += 1
            return
        if _Offset.active is not None:
            raise ClockError(
                "another VirtualClock is already running in this process; share it "
                "(PluginHost(clock=the_clock)) instead of starting a second one"
            )
        if not hasattr(loop, "_scheduled") or not hasattr(loop, "_ready"):
            raise ClockError(
                f"the virtual clock needs asyncio's own event loop, not {type(loop).__name__}; "
                "use the real clock for this test (@pytest.mark.nexus_host(clock='real'))"
            )
        import time_machine  # imported by __init__ already: only a lookup here

        self._loop = loop
        self._depth = 1
        _Offset.active = self
        _Offset.seconds = 0.0
        _Offset.frozen = None
        self.wakeups = 0
        self._advanced = 0.0
        self._frozen_at = 0.0
        self._saved = {"monotonic": time.monotonic, "monotonic_ns": time.monotonic_ns}
        time.monotonic = _monotonic
        time.monotonic_ns = _monotonic_ns
        before = real_monotonic()
        self._travel = time_machine.travel(time.time(), tick=True)
        self._traveller = self._travel.start()
        time.time()  # time-machine starts ticking at the first reading
        if abs(real_monotonic() - before) > 60:
            # time-machine 2.13 and 2.14.0 mocked time.monotonic, which freezes event loops.
            self.stop()
            raise ClockError(
                f"time-machine {_version('time-machine')} mocks time.monotonic(); "
                "the virtual clock needs time-machine>=2.14.1"
            )
        self._patch_executor(loop)

    def stop(self) -> None:
        """Remove the clock: time is real again (what leaving does)."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        loop, offset = self._loop, _Offset.seconds
        assert loop is not None
        # Keep every pending timer's remaining delay: a loop reused by the next
        # test (wider loop scopes) must not wait out the simulated time.
        scheduled: list[Any] = getattr(loop, "_scheduled", [])
        for handle in scheduled:
            if not is_real_timer(handle):
                handle._when -= offset
        shift_real_timers(-offset, [loop])
        time.monotonic = self._saved["monotonic"]
        time.monotonic_ns = self._saved["monotonic_ns"]
        self._travel.stop()
        self._travel = self._traveller = None
        if loop.__dict__.get("run_in_executor") is self._saved.get("run_in_executor"):
            del loop.__dict__["run_in_executor"]
        self._saved.clear()
        _Offset.seconds = 0.0
        _Offset.active = None
        self._loop = None

    def _patch_executor(self, loop: asyncio.AbstractEventLoop) -> None:
        original = loop.run_in_executor
        threads = self._threads

        def run_in_executor(executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
            future = original(executor, func, *args)
            threads.add(future)
            return future

        loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
        self._saved["run_in_executor"] = run_in_executor

    # ------------------------------------------------------------ moving the time

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._depth == 0 or self._loop is None:
            raise ClockError("the clock is not running: enter it first (`async with clock:`)")
        if asyncio.get_running_loop() is not self._loop:
            raise ClockError("advance() was awaited on another event loop than the clock's")
        return self._loop

    async def advance(self, seconds: float, *, max_task_wakeups: int | None = None) -> None:
        """Move simulated time ``seconds`` forward, running everything that falls due, in order.

        Each timer due on the way runs at its own time (``loop.time()``,
        ``time.time()`` and ``datetime.now()`` say so), and what it starts
        runs before the clock moves on.

        ``max_task_wakeups`` caps the timer wake-ups of each task (or of each
        callback function, for timers set outside a task) in this advance:
        once a task has woken that often, the clock no longer jumps to its
        timers, so it sleeps through the rest of the span (waking at most
        when another task's timer moves the time past its own).  The tasks
        that hit the cap are in :attr:`throttled`.  Without it, a task waking
        more than ``max_wakeups`` times in total stops the advance with a
        :class:`ClockError`.
        """
        if not seconds >= 0:
            raise ValueError(f"advance() takes a number of seconds >= 0, got {seconds!r}")
        if max_task_wakeups is not None and (
            isinstance(max_task_wakeups, bool)
            or not isinstance(max_task_wakeups, int)
            or max_task_wakeups < 1
        ):
            raise ValueError(
                f"max_task_wakeups must be a whole number from 1, got {max_task_wakeups!r}"
            )
        loop = self._require_loop()
        await self._settle(loop)
        self.throttled = {}
        cap = _Cap(loop, max_task_wakeups) if max_task_wakeups is not None else None
        # Time stands still during the advance, but for its jumps and for waits
        # on threads: a loop sleeping 300 s wakes at 300, 600 and 900 exactly.
        self._freeze()
        try:
            await self._advance(loop, seconds, cap)
        finally:
            self._thaw()
            if cap is not None:
                cap.remove()
                self.throttled = dict(cap.throttled)

    async def _advance(
        self, loop: asyncio.AbstractEventLoop, seconds: float, cap: _Cap | None = None
    ) -> None:
        target = loop.time() + seconds
        steps = 0
        while (when := self._next_due(loop, target, cap)) is not None:
            steps += 1
            if steps > self.max_wakeups:
                raise ClockError(
                    f"advance({seconds:g}) stopped after {self.max_wakeups} timer wake-ups, "
                    f"{seconds - (target - loop.time()):.3f} s into it: a task wakes up too "
                    "often to simulate this span. Advance less at a time, or raise "
                    "VirtualClock(max_wakeups=...)."
                )
            if cap is not None:
                cap.count(loop, when)
            self._jump(loop, when)
            self.wakeups += 1
            await self._settle(loop)
        self._jump(loop, target)
        await self._settle(loop)
        self._advanced += seconds

    async def run_until_idle(self) -> None:
        """Run what is ready now (tasks, callbacks, thread results), without moving time."""
        await self._settle(self._require_loop())

    def _jump(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        delta = when - loop.time()
        if delta <= 0:
            return
        if _Offset.frozen is not None:
            _Offset.frozen += delta
        _Offset.seconds += delta
        self._traveller.shift(delta)
        shift_real_timers(delta, [loop])

    def _freeze(self) -> None:
        if _Offset.frozen is None:
            self._frozen_at = real_monotonic()
            _Offset.frozen = self._frozen_at + _Offset.seconds
            self._traveller.move_to(time.time(), tick=False)
            set_frozen(True)

    def _thaw(self) -> None:
        frozen = _Offset.frozen
        if frozen is not None:
            wall = time.time()
            _Offset.frozen = None
            # Go on from where the frozen time stood: never backwards.
            now = real_monotonic()
            _Offset.seconds = frozen - now
            self._traveller.move_to(wall, tick=True)
            time.time()  # time-machine starts ticking at the first reading
            set_frozen(False)
            # The harness's time-outs could not fire while time stood still; what
            # real time passed meanwhile still counts for them.
            shift_real_timers(self._frozen_at - now, [self._loop] if self._loop else [])

    @staticmethod
    def _next_due(
        loop: asyncio.AbstractEventLoop, target: float, cap: _Cap | None = None
    ) -> float | None:
        best: float | None = None
        for handle in getattr(loop, "_scheduled", ()):
            if handle.cancelled() or is_real_timer(handle):
                continue
            if cap is not None and cap.capped(handle):
                continue
            when: float = handle.when()
            if when <= target and (best is None or when < best):
                best = when
        return best

    @staticmethod
    def _busy(loop: asyncio.AbstractEventLoop) -> bool:
        if getattr(loop, "_ready", None):
            return True
        now = loop.time()
        return any(
            h.when() <= now and not h.cancelled() and not is_real_timer(h)
            for h in getattr(loop, "_scheduled", ())
        )

    async def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        idle = rounds = 0
        while idle < 2:
            await asyncio.sleep(0)
            rounds += 1
            if rounds > _MAX_ROUNDS:
                raise ClockError(
                    f"the event loop never went idle in {_MAX_ROUNDS} rounds: a task loops "
                    "on `await asyncio.sleep(0)` (or reschedules itself with call_soon) "
                    "without waiting for time or I/O, so there is no moment to move the clock"
                )
            if self._busy(loop):
                idle = 0
                continue
            threads = [
                f
                for f in (*self._threads, *real_io_pending(loop))
                if not f.done() and f not in self._long_threads
            ]
            if threads:
                idle = 0
                # A thread's work takes real time: let the clock run meanwhile.
                frozen = _Offset.frozen is not None
                self._thaw()
                try:
                    done, pending = await asyncio.wait(
                        threads, timeout=self.thread_wait, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    if frozen:
                        self._freeze()
                if not done:
                    self._long_threads.update(pending)
                continue
            idle += 1

    def __repr__(self) -> str:
        state = f"running, advanced {self.elapsed:g} s" if self.running else "stopped"
        return f"<VirtualClock {state}>"


def _callback_owner(callback: Any, args: tuple[Any, ...]) -> Any:
    """Who a timer wakes when no task set it: the task waiting on an ``asyncio.sleep``
    future (timers set before the advance), else the callback's function."""
    if args and isinstance(args[0], asyncio.Future):
        for waiting, _context in getattr(args[0], "_callbacks", None) or ():
            owner = getattr(waiting, "__self__", None)
            if isinstance(owner, asyncio.Task):
                return owner
    return getattr(callback, "__func__", callback)


class _Cap:
    """Counts timer wake-ups per owner during one advance: the task that set the timer.

    While it is installed the loop's ``call_at`` (through which ``call_later``,
    ``asyncio.sleep`` and ``asyncio.timeout`` schedule) notes the running task
    on each handle it makes; handles made earlier are attributed by
    :func:`_callback_owner`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.limit = limit
        self.counts: dict[Any, int] = {}
        self.throttled: dict[Any, float] = {}
        self.start = loop.time()
        self._owners: weakref.WeakKeyDictionary[asyncio.TimerHandle, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._loop = loop
        original = loop.call_at
        owners = self._owners

        def call_at(when: float, callback: Any, *args: Any, context: Any = None) -> Any:
            handle = original(when, callback, *args, context=context)
            task = asyncio.current_task(loop)
            owners[handle] = task if task is not None else _callback_owner(callback, args)
            return handle

        loop.call_at = call_at  # type: ignore[method-assign,assignment]
        self._patched = call_at

    def remove(self) -> None:
        if self._loop.__dict__.get("call_at") is self._patched:
            del self._loop.__dict__["call_at"]

    def owner(self, handle: asyncio.TimerHandle) -> Any:
        owner = self._owners.get(handle)
        if owner is None:
            owner = _callback_owner(handle._callback, tuple(handle._args))  # type: ignore[attr-defined]
            self._owners[handle] = owner
        return owner

    def capped(self, handle: asyncio.TimerHandle) -> bool:
        try:
            return self.owner(handle) in self.throttled
        except TypeError:  # an owner that cannot be a dict key
            return False

    def count(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Count a wake-up for each owner whose timer is due at ``when``."""
        for handle in getattr(loop, "_scheduled", ()):
            if handle.cancelled() or is_real_timer(handle) or handle.when() > when:
                continue
            try:
                owner = self.owner(handle)
                n = self.counts[owner] = self.counts.get(owner, 0) + 1
            except TypeError:
                continue
            if n >= self.limit and owner not in self.throttled:
                self.throttled[owner] = when - self.start
