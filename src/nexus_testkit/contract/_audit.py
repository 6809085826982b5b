"""File access of the plugin, recorded by an audit hook (PEP 578), per request.

Audit hooks cannot be removed, so there is one per process, installed on first
use, and it records only while :data:`_RECORDING` (a context variable) holds a
list.  The exercise sets it around each request; the variable follows the
request into the threads anyio and Starlette use (a ``FileResponse`` opens its
file in one after the route returned), so an access is attributed to the
request that caused it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

__all__ = ["Access", "allowed_roots", "recording"]

Access = tuple[str, str]  # (what: open/list/write/delete, absolute path)

_RECORDING: ContextVar[list[Access] | None] = ContextVar("nexus_contract_files", default=None)
_installed = False
_EVENTS = {
    "open": "open",
    "os.listdir": "list",
    "os.scandir": "list",
    "os.mkdir": "write",
    "os.rename": "write",
    "os.replace": "write",
    "os.remove": "delete",
    "os.rmdir": "delete",
    "shutil.rmtree": "delete",
    "shutil.move": "write",
    "shutil.copyfile": "write",
}
#: Argument index of ``dir_fd`` in the events that take one.
_DIR_FD = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2, "os.rename": 2, "os.replace": 2}
#: Read-only system data plugins and their libraries legitimately read.
_SYSTEM = (
    "/etc/mime.types",
    "/etc/localtime",
    "/etc/ssl/",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/usr/share/",
    "/usr/lib/",
    "/dev/null",
    "/dev/urandom",
    "/proc/self/",
)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS:
        return
    sink = _RECORDING.get()
    if sink is None or not args:
        return
    target = args[0]
    if isinstance(target, int) or target is None:  # a file descriptor: opened before
        return
    # Relative to a directory descriptor (shutil.rmtree walks that way, after
    # its own event named the tree): not resolvable here, and already seen.
    if event in _DIR_FD and len(args) > _DIR_FD[event]:
        dir_fd = args[_DIR_FD[event]]
        if isinstance(dir_fd, int) and dir_fd >= 0:  # -100 is AT_FDCWD: the cwd
            return
    if (
        event == "open"
        and len(args) > 1
        and args[1] is None
        and not os.path.isabs(os.fsdecode(target))
    ):
        return  # os.open(name, dir_fd=...) reports neither the descriptor nor the mode
    try:
        path = os.path.abspath(os.fsdecode(target))
    except (TypeError, ValueError):
        return
    what = _EVENTS[event]
    if (
        event == "open"
        and len(args) > 1
        and isinstance(args[1], str)
        and set(args[1]) & set("wax+")
    ):
        what = "write"
    sink.append((what, path))


@contextmanager
def recording(sink: list[Access]) -> Iterator[None]:
    """Record the file accesses of the code run in this context into ``sink``."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    token = _RECORDING.set(sink)
    try:
        yield
    finally:
        _RECORDING.reset(token)


def allowed_roots(plugin_dir: Path, data_roots: list[str]) -> tuple[str, ...]:
    """Where a plugin may reach: its directory, its data, Python, read-only system data."""
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    python |= {p for p in sysconfig.get_paths().values() if p}
    roots = [str(plugin_dir.resolve()) + os.sep, *(r.rstrip(os.sep) + os.sep for r in data_roots)]
    roots += [p.rstrip(os.sep) + os.sep for p in python]
    return (*roots, *_SYSTEM)


def outside(path: str, roots: tuple[str, ...]) -> bool:
    candidates = (path, path + os.sep)
    return not any(c.startswith(r) or c == r.rstrip(os.sep) for c in candidates for r in roots)


def data_roots(accesses: list[Access], plugin_dir: Path) -> list[str]:
    """The directories the plugin made or wrote in on its own (at start, on valid input)."""
    own = str(plugin_dir.resolve()) + os.sep
    dirs = set()
    for what, path in accesses:
        if what != "write" or path.startswith(own):
            continue
        dirs.add(path if os.path.isdir(path) else os.path.dirname(path))
    return sorted(d for d in dirs if not any(d != o and d.startswith(o + os.sep) for o in dirs))
