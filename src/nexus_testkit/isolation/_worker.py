"""The worker: one forked child of the fork server per plugin, running the plugin's whole contract.

Everything here runs in the child, which the plugin may wreck at will: it
is killed afterwards and nothing of it comes back but what it sends over
its private channel (a socket the parent reads; never stdout).  What the
child tells the parent, one JSON object per line:

- ``{"hello": ..., "main_thread": ...}`` once it is set up;
- ``{"stage": text}`` before each call into the plugin (the text the
  contract labels its calls with, or ``"importing <file>"``), and ``""``
  when the harness works on its own; these are the heartbeats the parent's
  per-call limit is measured from;
- ``{"secrets": [...]}`` for each value the contract masks, so that the
  parent masks the plugin's stdout and stderr too;
- ``{"exit_call": ...}`` when the plugin calls ``os._exit()``, ``os.abort()``
  or signals its own process (with the plugin's frame that did);
- ``{"crash": ...}`` when the contract run ended by an exception no check
  could hold (SystemExit in a task, KeyboardInterrupt);
- ``{"report": ..., "duration": ..., "killed": [...], "facts": ...}`` at the
  end (``facts``: what the checks over a set of plugins read).

The plugin's fd 1 and 2 are pipes the parent drains; fatal signals and the
parent's SIGUSR1 make faulthandler dump every thread's stack into a third.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import os
import pickle
import resource
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from .._describe import describe_exception
from ._procs import cmdline, descendants, kill_tree, set_subreaper

__all__ = ["main"]

_real_exit = os._exit
_STDLIB = str(Path(os.__file__).parent)
_HARNESS = str(Path(__file__).parent.parent)


class _Channel:
    """Newline-delimited JSON to the parent; never raises (the parent reads what arrives)."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.lock = threading.Lock()
        self.local = threading.local()

    def send(self, **message: Any) -> None:
        if getattr(self.local, "busy", False):
            return  # an audit event raised while sending
        data = (json.dumps(message, default=repr) + "\n").encode()
        self.local.busy = True
        try:
            with self.lock:
                self.sock.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            self.local.busy = False


def _inside(file: str, plugin_dirs: tuple[str, ...]) -> bool:
    return os.path.abspath(file).startswith(plugin_dirs)


def _where(frame: FrameType | None, plugin_dir: tuple[str, ...]) -> str | None:
    """The innermost frame of the plugin from ``frame`` outwards, as ``file:line in function``."""
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if _inside(filename, plugin_dir):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        if fallback is None and not filename.startswith((_STDLIB, _HARNESS, "<")):
            fallback = f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return fallback


def _where_tb(tb: TracebackType | None, plugin_dir: tuple[str, ...]) -> str | None:
    """The innermost frame of the plugin in a traceback."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if _inside(filename, plugin_dir):
            found = f"{filename}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return found


def _describe(exc: BaseException) -> str:
    return describe_exception(exc)


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def _limit_memory(extra: int | None) -> None:
    if extra is None:
        return
    try:
        with open("/proc/self/statm") as file:
            pages = int(file.read().split()[0])
        current = pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        current = 0
    limit = current + extra
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _install_hooks(channel: _Channel, plugin_dir: tuple[str, ...]) -> None:
    """Report stages, secrets and self-inflicted deaths as they happen."""
    from .._masking import Masker
    from ..host import _blocking

    state = {"during": ""}

    def get_during(self: Any) -> str:
        return str(self.__dict__.get("_nexus_during", ""))

    def set_during(self: Any, value: str) -> None:
        self.__dict__["_nexus_during"] = value
        state["during"] = value
        channel.send(stage=value)

    # The contract labels each call into the plugin on its blocking monitor;
    # in this throw-away process that label is also the stage the parent sees.
    _blocking.BlockingMonitor.during = property(get_during, set_during)  # type: ignore[assignment]

    add = Masker.add

    def add_and_tell(self: Masker, secrets: Any) -> None:
        values = list(secrets)
        add(self, values)
        forms = [str(v) for v in values if v is not None and not isinstance(v, bool)]
        if forms:
            channel.send(secrets=forms)

    Masker.add = add_and_tell  # type: ignore[method-assign]

    me = os.getpid()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and not state["during"]:
            path = args[0]
            if isinstance(path, str) and path.endswith(".py") and _inside(path, plugin_dir):
                state["during"] = f"importing {path}"
                channel.send(stage=state["during"])
        elif event in ("os.kill", "os.killpg") and args[0] in (me, 0, -me):
            channel.send(
                exit_call={
                    "how": f"{event}(signal {args[1]})",
                    "where": _where(sys._getframe(1), plugin_dir),
                }
            )

    sys.addaudithook(hook)

    def exit_now(code: int) -> None:
        channel.send(
            exit_call={"how": f"os._exit({code})", "where": _where(sys._getframe(1), plugin_dir)}
        )
        _real_exit(code)

    real_abort = os.abort

    def abort_now() -> None:
        channel.send(exit_call={"how": "os.abort()", "where": _where(sys._getframe(1), plugin_dir)})
        real_abort()

    os._exit = exit_now  # type: ignore[assignment]
    os.abort = abort_now  # type: ignore[assignment]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _leftovers() -> list[str]:
    """Kill what the plugin left running below this process; describe each."""
    found = [f"pid {pid}: {cmdline(pid) or '?'}" for pid in descendants(os.getpid())]
    if found:
        kill_tree(os.getpid(), include_root=False)
    return found


def main(request: dict[str, Any], fds: list[int]) -> None:
    """Run one plugin's contract in this freshly forked child, then end the process."""
    code = 70
    try:
        code = _main(request, fds)
    finally:
        _flush()
        _real_exit(code)


def _main(request: dict[str, Any], fds: list[int]) -> int:
    chan_fd, out_fd, err_fd, stack_fd = fds
    os.setsid()  # a process group of its own: the parent kills it whole
    set_subreaper()
    _reset_signals()
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    faulthandler.enable(file=stack_fd, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=stack_fd, all_threads=True)
    _limit_memory(request["memory_limit"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[:] = request["sys_path"]
    channel = _Channel(chan_fd)
    plugin_dir = tuple(request["plugin_dirs"])
    channel.send(hello=os.getpid(), main_thread=threading.get_ident())
    _install_hooks(channel, plugin_dir)

    from .._interrupts import set_hang_interrupts
    from ..contract._runner import run_contract
    from ..contract._together import run_together

    # The parent's limits cut hangs here, after a dump of every thread's stack.
    set_hang_interrupts(False)

    options = pickle.loads(request["options"])
    together = request.get("together")
    try:
        if together:  # the plugins of a set started together: ecosystem.start
            report = asyncio.run(run_together(together, options))
        else:
            report = asyncio.run(run_contract(request["path"], options))
    except BaseException as exc:
        channel.send(
            crash={"error": _describe(exc), "where": _where_tb(exc.__traceback__, plugin_dir)}
        )
        return 70
    killed = _leftovers()
    facts = report.facts.to_json() if report.facts is not None else None
    channel.send(report=report.to_json(), duration=report.duration, killed=killed, facts=facts)
    return 0
