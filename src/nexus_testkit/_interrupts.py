"""Cutting a synchronous hang of plugin code, and telling a user's Ctrl-C from a plugin's.

An ``await`` can be cancelled; ``time.sleep(3600)`` or a CPU loop in
``initialize()`` cannot: it holds the event loop, so the loop's own time-out
never runs.  Fixture-based tests run the plugin in the pytest process, so
the one way to cut such a hang is the one pytest-timeout's ``signal``
method uses: ``SIGALRM`` (``signal.setitimer``) delivered to the main
thread, whose handler raises in the frame that is stuck.

:func:`interrupt_after` arms one deadline for a call into plugin code.  The
deadlines of every call in progress share one handler and one timer (calls
overlap across tasks, so they do not nest like ``with`` blocks).  The
handler and timer that were there before the first deadline (pytest-timeout's,
for one) are kept and chained: when their own time comes, their handler runs
as if we were not there, and both are put back when the last deadline ends.

The handler raises :class:`PluginHangInterrupt` only while the main thread
is executing the plugin's own code (a frame in its directory): then the
exception unwinds plugin frames up to the asyncio task or callback running
them, which catch it (it is not a ``KeyboardInterrupt``/``SystemExit``), so
the event loop is never left half-way through a step.  When the loop is
merely waiting (the plugin awaits), the handler does nothing and the loop's
own time-out, due at the same moment, reports the hang; a plugin that
catches the interruption is interrupted again half a second later.

``SIGINT`` is watched the same way while a host runs: :func:`user_interrupts`
counts the Ctrl-C's the user pressed, so that a ``KeyboardInterrupt`` raised
by plugin code (which fails the test) is told from the user's (which still
stops the run).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import sysconfig
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

from ._frames import HARNESS_DIRS
from ._realtime import real_monotonic

__all__ = [
    "PluginHangInterrupt",
    "PluginKeyboardInterrupt",
    "holding_alarm",
    "interrupt_after",
    "is_user_interrupt",
    "plugin_site",
    "raised_at",
    "set_hang_interrupts",
    "start_deadline",
    "stop_deadline",
    "user_interrupts",
    "watching_ctrl_c",
]

#: How long after an interruption the plugin is interrupted again if it caught it.
REPEAT = 0.5
#: How often the handler looks again when the deadline passed while the loop only waited.
RECHECK = 0.05

_LIBRARY_DIRS = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _loop_codes() -> frozenset[CodeType]:
    import asyncio.base_events
    import selectors

    codes = {asyncio.base_events.BaseEventLoop._run_once.__code__}  # type: ignore[attr-defined]
    for cls in vars(selectors).values():
        select = getattr(cls, "select", None) if isinstance(cls, type) else None
        if select is not None and hasattr(select, "__code__"):
            codes.add(select.__code__)
    return frozenset(codes)


_LOOP_CODES = _loop_codes()


class PluginHangInterrupt(BaseException):
    """Raised by ``SIGALRM`` in plugin code that kept the event loop past its time-out.

    A ``BaseException`` so that a plugin's ``except Exception`` does not
    swallow it; the harness turns it into a :class:`PluginTimeoutError`.
    """

    def __init__(self, site: str, timeout: float) -> None:
        super().__init__(f"interrupted after {timeout:g} s at {site}")
        self.site = site
        self.timeout = timeout


class PluginKeyboardInterrupt(Exception):
    """Carries a ``KeyboardInterrupt`` that plugin code raised (not the user's Ctrl-C)."""

    def __init__(self, interrupt: KeyboardInterrupt) -> None:
        super().__init__("KeyboardInterrupt raised by the plugin")
        self.interrupt = interrupt


# ------------------------------------------------------------------ the stuck frame


def plugin_site(frame: FrameType | None, prefer: str | None) -> str:
    """``file:line in function`` of the innermost frame of plugin code on the stack, or ``""``.

    With ``prefer`` (the plugin's resolved directory), only frames there count;
    without, any frame outside the standard library, installed packages and
    the harness.  Stops at the event loop's own frames (what is below them,
    the test and pytest, is not what holds the loop) and at the import
    machinery (the plugin is importing a library).
    """
    while frame is not None:
        if frame.f_code in _LOOP_CODES:
            # Reached the event loop's own step before any plugin frame: the
            # loop is waiting for I/O or running harness code, not stuck in the plugin.
            return ""
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            # The plugin is importing a module (FastAPI on a cold start takes
            # a while): slow, not stuck.  A module of the plugin's own that
            # hangs at import is met before the import machinery.
            return ""
        site = plugin_site_of(frame, frame.f_lineno, prefer)
        if site:
            return site
        frame = frame.f_back
    return ""


@functools.lru_cache(maxsize=256)
def _real(filename: str) -> str:
    return os.path.realpath(filename)


def raised_at(exc: BaseException, prefer: str | None) -> str:
    """``file:line in function`` of the innermost plugin frame of ``exc``'s traceback, or ``""``."""
    site = ""
    tb = exc.__traceback__
    while tb is not None:
        found = plugin_site_of(tb.tb_frame, tb.tb_lineno, prefer)
        site = found or site
        tb = tb.tb_next
    return site


def plugin_site_of(frame: FrameType, lineno: int, prefer: str | None) -> str:
    """``file:line in function`` when ``frame`` is plugin code, else ``""``."""
    filename = frame.f_code.co_filename
    if prefer is not None:
        # A plugin imported by a relative path has relative file names.
        own = filename.startswith(prefer) or _real(filename).startswith(prefer)
    else:
        own = not filename.startswith((*_LIBRARY_DIRS, *HARNESS_DIRS, "<"))
    return f"{filename}:{lineno} in {frame.f_code.co_name}" if own else ""


# ------------------------------------------------------------------ SIGALRM deadlines


class _Deadline:
    """One call into plugin code in progress: when it is due, and where it was stuck."""

    __slots__ = ("at", "fired", "prefer", "timeout")

    def __init__(self, at: float, timeout: float, prefer: str | None) -> None:
        self.at = at
        self.timeout = timeout
        self.prefer = prefer
        #: Set when this deadline interrupted the plugin: the site it was stuck at.
        self.fired = ""


@dataclass
class _Alarm:
    active: list[_Deadline] = field(default_factory=list)
    #: Hosts running: while one does, the handler stays installed (no system
    #: call to install and restore it around every call into the plugin).
    holders: int = 0
    installed: bool = False
    #: When the timer is set to fire (absolute, real time), or None.
    armed_at: float | None = None
    #: The handler, the absolute time and the interval of the timer that were
    #: there before ours; put back when nothing needs ours any more.
    saved_handler: Any = None
    saved_at: float | None = None
    saved_interval: float = 0.0

    def install(self) -> bool:
        if self.installed:
            return True
        try:
            previous = signal.signal(signal.SIGALRM, self.handle)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            return False
        remaining, interval = signal.getitimer(signal.ITIMER_REAL)
        self.saved_handler = previous
        self.saved_at = real_monotonic() + remaining if remaining > 0 else None
        self.saved_interval = interval
        self.armed_at = None
        self.installed = True
        return True

    def arm(self, *, lazy: bool = False) -> None:
        """Set the timer for the earliest deadline (``lazy``: only if it would fire too late).

        Calls into the plugin start and end far more often than a deadline
        expires: a new deadline is later than the one the timer is already set
        for, so it needs no system call; the handler re-arms when it fires early.
        """
        times = [d.at for d in self.active]
        if self.saved_at is not None:
            times.append(self.saved_at)
        earliest = min(times) if times else None
        if (
            lazy
            and self.armed_at is not None
            and (earliest is None or earliest >= self.armed_at - 1e-4)
        ):
            return
        if earliest is None:
            if self.armed_at is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.armed_at = None
            return
        signal.setitimer(signal.ITIMER_REAL, max(earliest - real_monotonic(), 1e-4))
        self.armed_at = earliest

    def release(self) -> None:
        """Put back the handler and timer that were there, once nothing needs ours."""
        if not self.installed or self.active or self.holders:
            return
        signal.signal(signal.SIGALRM, self.saved_handler or signal.SIG_DFL)
        if self.saved_at is not None:
            # A timer already due fires at once, with its own handler back in place.
            remaining = max(self.saved_at - real_monotonic(), 1e-6)
            signal.setitimer(signal.ITIMER_REAL, remaining, self.saved_interval)
        elif self.armed_at is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.saved_handler, self.saved_at, self.saved_interval = None, None, 0.0
        self.armed_at = None
        self.installed = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.armed_at = None
        now = real_monotonic()
        if self.saved_at is not None and now >= self.saved_at - 1e-3:
            # The timer that was there before ours (pytest-timeout's): its handler's turn.
            self.saved_at = None
            self.arm()
            previous = self.saved_handler
            if callable(previous):
                previous(signum, frame)
            return
        expired = [d for d in self.active if now >= d.at - 1e-3]
        if not expired:
            self.arm()
            return
        site = ""
        if not _debugging():
            for deadline in expired:
                site = site or plugin_site(frame, deadline.prefer)
        if not site:
            # The loop is waiting, or in harness code: the loop's own time-out reports it.
            for deadline in expired:
                deadline.at = now + RECHECK
            self.arm()
            return
        for deadline in expired:
            deadline.fired = site
            deadline.at = now + REPEAT
        self.arm()
        raise PluginHangInterrupt(site, expired[0].timeout)


_alarm = _Alarm()

#: Off in the contract's worker process, whose parent cuts hangs with harder means
#: (a kill after a stack dump, which also stops what a signal handler cannot).
_enabled = True


def set_hang_interrupts(enabled: bool) -> None:
    """Switch :func:`interrupt_after` on or off for the process."""
    global _enabled
    _enabled = enabled


def _usable() -> bool:
    return (
        _enabled
        and hasattr(signal, "setitimer")
        and threading.get_ident() == threading.main_thread().ident
    )


#: Trace functions of debuggers: while one steps through plugin code, nothing is interrupted
#: (pytest-timeout's rule; coverage's tracer is not one of them).
_DEBUGGERS = ("bdb", "pdb", "pydevd", "_pydevd", "debugpy")


def _debugging() -> bool:
    trace = sys.gettrace()
    if trace is None:
        return False
    module = getattr(trace, "__module__", None) or type(trace).__module__ or ""
    return module.split(".")[0] in _DEBUGGERS


@contextlib.contextmanager
def holding_alarm() -> Iterator[None]:
    """Keep the SIGALRM handler installed for the block (a running host)."""
    alarm = _alarm
    if not _usable() or not alarm.install():
        yield
        return
    alarm.holders += 1
    try:
        yield
    finally:
        alarm.holders -= 1
        alarm.release()


def start_deadline(timeout: float | None, prefer: str | None) -> _Deadline | None:
    """Arm a deadline for a call into plugin code; :func:`stop_deadline` ends it.

    The hot path of :func:`interrupt_after`, for the event bus, which calls a
    handler thousands of times a second: no generator, and no system call
    while a host holds the handler and the timer is already set earlier.
    """
    if timeout is None or not _enabled:
        return None
    alarm = _alarm
    if threading.get_ident() != threading.main_thread().ident:
        return None
    if not alarm.installed and (not hasattr(signal, "setitimer") or not alarm.install()):
        return None
    deadline = _Deadline(real_monotonic() + timeout, timeout, prefer)
    alarm.active.append(deadline)
    armed = alarm.armed_at
    if armed is None or deadline.at < armed - 1e-4:
        alarm.arm()
    return deadline


def stop_deadline(deadline: _Deadline | None) -> None:
    """End a deadline of :func:`start_deadline` (``None``: nothing was armed)."""
    if deadline is None:
        return
    alarm = _alarm
    alarm.active.remove(deadline)
    if not alarm.active and not alarm.holders:
        alarm.release()


class interrupt_after:
    """Interrupt plugin code that holds the main thread ``timeout`` real seconds from now.

    ``with interrupt_after(timeout, plugin_dir) as deadline:`` gives the
    deadline (``None`` where signals cannot be used: not the main thread, no
    ``setitimer``, no time-out); its ``fired`` names the stuck site once it
    interrupted.  Outside the main thread nothing is armed: a hang there is
    left to the asyncio time-out.
    """

    __slots__ = ("_deadline", "_prefer", "_timeout")

    def __init__(self, timeout: float | None, prefer: str | None) -> None:
        self._timeout = timeout
        self._prefer = prefer
        self._deadline: _Deadline | None = None

    def __enter__(self) -> _Deadline | None:
        self._deadline = start_deadline(self._timeout, self._prefer)
        return self._deadline

    def __exit__(self, *exc: object) -> None:
        deadline, self._deadline = self._deadline, None
        stop_deadline(deadline)


# ------------------------------------------------------------------ Ctrl-C


@dataclass
class _CtrlC:
    count: int = 0
    watchers: int = 0
    saved: Any = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        previous = self.saved
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


_ctrl_c = _CtrlC()


def user_interrupts() -> int:
    """How many times the user pressed Ctrl-C (SIGINT) while a host watched."""
    return _ctrl_c.count


def is_user_interrupt(since: int) -> bool:
    """True when a Ctrl-C arrived after :func:`user_interrupts` returned ``since``.

    Where nothing watches (not the main thread), every ``KeyboardInterrupt``
    is taken for the user's.
    """
    return _ctrl_c.watchers == 0 or _ctrl_c.count != since


@contextlib.contextmanager
def watching_ctrl_c() -> Iterator[None]:
    """Count the user's Ctrl-C's for the block, chaining the SIGINT handler already installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = _ctrl_c
    if state.watchers == 0:
        try:
            state.saved = signal.signal(signal.SIGINT, state.handle)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            yield
            return
    state.watchers += 1
    try:
        yield
    finally:
        state.watchers -= 1
        if state.watchers == 0:
            # Only ours is replaced: a handler installed meanwhile stays.
            if signal.getsignal(signal.SIGINT) == state.handle:
                signal.signal(signal.SIGINT, state.saved or signal.default_int_handler)
            state.saved = None
