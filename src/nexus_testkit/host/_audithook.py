"""The harness's one audit hook (PEP 578), shared by every guard.

Audit hooks cannot be removed, and plugin code cannot monkeypatch them away:
the events are raised by the interpreter's C code (``_socket`` included), so
there is one hook per process, installed on first use, which dispatches each
event to the listeners the guards registered for it (:func:`listen`).  A
listener does nothing unless its guard is on; what it enforces is switched by
the guard's own state, never by adding or removing hooks.

Listeners run inside the audited call: they must be cheap, must not raise
except to refuse the operation, and must not recurse (a listener that logs
may cause events of its own: they are not dispatched again on the same
thread).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

__all__ = ["listen", "plugin_site"]

Listener = Callable[[str, tuple[Any, ...]], None]

_LISTENERS: dict[str, list[Listener]] = {}
_installed = False
_lock = threading.Lock()
_local = threading.local()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    listeners = _LISTENERS.get(event)
    if not listeners or getattr(_local, "busy", False):
        return
    _local.busy = True
    try:
        for listener in listeners:
            listener(event, args)
    finally:
        _local.busy = False


def listen(events: Iterable[str], listener: Listener) -> None:
    """Call ``listener(event, args)`` for each of ``events`` from now on (installs the hook)."""
    global _installed
    with _lock:
        for event in events:
            registered = _LISTENERS.setdefault(event, [])
            if listener not in registered:
                # A new list: the hook may be iterating the old one on another thread.
                _LISTENERS[event] = [*registered, listener]
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


def plugin_site(roots: Iterable[str], frame: FrameType | None = None) -> str:
    """``file:line in function`` of the innermost frame under one of ``roots``, or ""."""
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in roots if r)
    if not prefixes:
        return ""
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    while f is not None:
        filename = f.f_code.co_filename
        # A plugin imported from a relative directory has relative file names.
        if filename.startswith(prefixes) or (
            not filename.startswith(("/", "<")) and os.path.abspath(filename).startswith(prefixes)
        ):
            return f"{filename}:{f.f_lineno} in {f.f_code.co_name}"
        f = f.f_back
    return ""
