"""Processes on Linux: the descendants of a process, killing a whole tree, child subreapers.

The worker and the fork server are *child subreapers* (``PR_SET_CHILD_SUBREAPER``):
a process the plugin started and orphaned (a daemon that forked twice, a
subprocess that called ``setsid()``) is re-parented to the worker, or to the
server once the worker is gone, never to init; so walking ``/proc`` from the
worker (or the server) finds everything the plugin left behind.  Process
groups alone would miss what left the group with ``setsid()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections import defaultdict

__all__ = ["children", "cmdline", "descendants", "kill_tree", "set_subreaper"]

_PR_SET_CHILD_SUBREAPER = 36


def set_subreaper() -> bool:
    """Make this process a child subreaper (Linux); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _table() -> dict[int, list[tuple[int, str]]]:
    """parent pid -> [(pid, state)] of every process visible in /proc."""
    table: dict[int, list[tuple[int, str]]] = defaultdict(list)
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 2:
            continue
        table[int(fields[1])].append((int(name), fields[0].decode()))
    return table


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return "gone"
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def _direct(pid: int) -> list[int] | None:
    """Children from ``/proc/PID/task/TID/children``; None where the kernel lacks the file."""
    try:
        found = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as file:
                found += [int(p) for p in file.read().split()]
    except (OSError, ValueError):
        return None
    return found


def children(pid: int, *, running: bool = True) -> list[int]:
    """The direct children of ``pid`` (zombies left out when ``running``)."""
    found = _direct(pid)
    if found is None:
        found = [p for p, _ in _table().get(pid, [])]
    if running:
        found = [p for p in found if _state(p) not in ("Z", "X", "gone")]
    return found


def descendants(pid: int, *, running: bool = True) -> list[int]:
    """Every process below ``pid``, parents before their children (one walk of /proc)."""
    if _direct(pid) == []:
        return []  # the common case, without reading every process of the machine
    table = _table()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child, state in table.get(todo.pop(0), []):
            if child not in found and child != pid:
                todo.append(child)
                if not (running and state in ("Z", "X")):
                    found.append(child)
    return found


def cmdline(pid: int) -> str:
    """The command line of ``pid``, as one string ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            raw = file.read(4096)
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_tree(root: int, *, include_root: bool = True) -> list[int]:
    """SIGKILL ``root`` (and its process group) and everything below it; the pids killed.

    The tree is frozen first (SIGSTOP), so that nothing in it forks while it
    is being killed; then walked again, then killed.
    """
    killed: list[int] = []
    for _ in range(3):
        tree = descendants(root)
        if include_root:
            tree = [root, *tree]
        if not tree:
            break
        for pid in tree:
            _signal(pid, signal.SIGSTOP)
        tree = [*([root] if include_root else []), *descendants(root)]
        if include_root:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(root, signal.SIGKILL)
        for pid in tree:
            _signal(pid, signal.SIGKILL)
            if pid not in killed:
                killed.append(pid)
        if not include_root or not descendants(root):
            break
    return killed
