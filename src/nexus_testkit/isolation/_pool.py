"""The parent's side of process isolation: the fork server, and the supervision of each worker.

:class:`WorkerPool` starts the fork server (``_server``) once and asks it
for one worker per plugin; :meth:`WorkerPool.run` supervises that worker
until it has sent its report and ended, or until a limit expires or it
dies, and always returns a :class:`PluginReport`.  The worker's report
arrives as JSON over a private socket (never unpickled: it was written by a
process the plugin controlled).

Limits: the worker reports a stage before each call into the plugin; a call
that outlasts the per-call limit, or a contract that outlasts the
per-plugin limit, gets the worker's thread stacks (SIGUSR1 to faulthandler),
then the whole tree is killed, and the check of that stage fails naming the
plugin's frame.  A worker that dies (an exit, a signal, a crash) fails the
check of the stage it was in, with the cause; the checks it had not reached
are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import NexusTestkitError
from .._masking import Masker
from ._options import IsolationOptions, process_isolation_available
from ._procs import kill_tree

if TYPE_CHECKING:
    from ..contract._runner import ContractOptions, PluginReport

__all__ = [
    "IsolationError",
    "WorkerPool",
    "check_plugin",
    "close_shared_pool",
    "shared_pool",
    "start_together",
]

_STACK_LIMIT = 1 << 20
_MESSAGE_LIMIT = 64 << 20
#: How long the server may take to import and warm up before it counts as broken.
_READY_TIMEOUT = 180.0


class IsolationError(NexusTestkitError):
    """The fork server could not be started or died (not a plugin's doing)."""


class WorkerPool:
    """A fork server and the workers it forks, one per plugin.

    Use as a context manager, or call :meth:`close`; :func:`shared_pool`
    gives the one of the current process.  Not shared between processes: a
    pool used after a fork starts a server of its own.
    """

    def __init__(self, *, warm_up: bool = True) -> None:
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._pid = os.getpid()
        self._log: Any = None
        #: What the server said when it was ready (pid, preloaded modules, seconds).
        self.ready: dict[str, Any] | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the server --------------------------------------------------------------

    def start(self) -> None:
        """Start the server, without waiting for it (it imports while the caller goes on)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._pid != os.getpid():  # inherited through a fork: not ours
            self._proc, self._ctl, self.ready, self._pid = None, None, None, os.getpid()
        if self._proc is not None and self._proc.poll() is None:
            return
        self._close()
        if not process_isolation_available():
            raise IsolationError(f"process isolation needs Linux; this is {sys.platform}")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        # The server sees the modules the caller sees (-P: not its working directory).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        # Kept open while the server lives (closed by _close): its start-up errors.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        command = [
            sys.executable,
            "-P",
            "-m",
            "nexus_testkit.isolation._server",
            str(theirs.fileno()),
        ]
        if not self._warm_up:
            command.append("--no-warm-up")
        try:
            self._proc = subprocess.Popen(
                command,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                env=env,
                cwd="/",
            )
        finally:
            theirs.close()
        self._ctl = ours
        self.ready = None

    def _server_failed(self, what: str) -> IsolationError:
        log = b""
        if self._log is not None:
            self._log.seek(0)
            log = self._log.read()[-4000:]
        self._close()
        detail = log.decode(errors="replace").strip()
        return IsolationError(
            f"the isolation's fork server {what}" + (f":\n{detail}" if detail else "")
        )

    def _wait_ready(self) -> None:
        if self.ready is not None:
            return
        assert self._ctl is not None
        deadline = time.monotonic() + _READY_TIMEOUT
        while self.ready is None:
            message = self._recv_ctl(deadline - time.monotonic())
            if message is None:
                raise self._server_failed("did not start")
            if "ready" in message:
                self.ready = message

    def _recv_ctl(self, timeout: float) -> dict[str, Any] | None:
        """The next message of the server; None at end of file or after ``timeout``."""
        assert self._ctl is not None
        if timeout <= 0 or not select.select([self._ctl], [], [], timeout)[0]:
            return None
        try:
            data = self._ctl.recv(1 << 16)
        except OSError:
            return None
        if not data:
            return None
        message: dict[str, Any] = json.loads(data)
        return message

    def close(self) -> None:
        """End the server and every worker it still has (idempotent)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            if self._pid == os.getpid():
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    kill_tree(self._proc.pid)
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.ready = None

    # -- one plugin ----------------------------------------------------------------

    def run(
        self,
        path: Path | str,
        options: ContractOptions | None = None,
        isolation: IsolationOptions | None = None,
    ) -> PluginReport:
        """The contract of the plugin in ``path``, run in a worker process of its own."""
        from ..contract._runner import ContractOptions

        options = options or ContractOptions()
        isolation = isolation or IsolationOptions()
        with self._lock:
            self._start()
            try:
                self._wait_ready()
            except IsolationError:
                # A server killed under us (or one that could not start): one more try.
                self._start()
                self._wait_ready()
            return _Supervision(self, Path(path), options, isolation).run()

    def run_together(
        self,
        paths: Sequence[Path | str],
        options: ContractOptions | None = None,
        isolation: IsolationOptions | None = None,
    ) -> PluginReport:
        """The plugins of ``paths`` started together in one host (``ecosystem.start``), in a
        worker process of its own; the report's one result is that check's."""
        from ..contract._runner import ContractOptions

        options = options or ContractOptions()
        isolation = isolation or IsolationOptions()
        together = tuple(Path(p) for p in paths)
        with self._lock:
            self._start()
            try:
                self._wait_ready()
            except IsolationError:
                self._start()
                self._wait_ready()
            return _Supervision(self, together[0], options, isolation, together).run()


# ---------------------------------------------------------------------------- supervision


@dataclass
class _Stream:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]


@dataclass
class _Thread:
    header: str
    frames: list[tuple[str, int, str]]


_THREAD = re.compile(r"^(Current thread|Thread) (0x[0-9a-f]+)")
_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def parse_stacks(text: str) -> list[_Thread]:
    """faulthandler's dump: one entry per thread, frames innermost first."""
    threads: list[_Thread] = []
    for line in text.splitlines():
        head = _THREAD.match(line)
        if head:
            threads.append(_Thread(line, []))
            continue
        frame = _FRAME.match(line)
        if frame and threads:
            threads[-1].frames.append((frame.group(1), int(frame.group(2)), frame.group(3)))
    return threads


class _Supervision:
    def __init__(
        self,
        pool: WorkerPool,
        path: Path,
        options: ContractOptions,
        isolation: IsolationOptions,
        together: tuple[Path, ...] = (),
    ) -> None:
        self.pool = pool
        self.path = path
        self.directory = path.parent if path.name == "manifest.json" else path
        #: The plugins started together (ecosystem.start) instead of one plugin's contract.
        self.together = together
        self.plugin_dirs = tuple(
            prefix for d in (together or (self.directory,)) for prefix in _prefixes(d)
        )
        self.options = options
        self.isolation = isolation
        self.call_limit, self.plugin_limit = isolation.limits(options.timeout, options.examples)
        self.masker = Masker()
        self.stage: str = ""
        self.last_stage: str | None = None
        self.stage_since = 0.0
        self.main_thread: int | None = None
        self.report: dict[str, Any] | None = None
        self.crash: dict[str, Any] | None = None
        self.exit_call: dict[str, Any] | None = None
        self.killed_left: list[str] = []
        self.status: int | None = None
        self.timed_out: str | None = None
        self.stdout = _Stream(isolation.output_limit)
        self.stderr = _Stream(isolation.output_limit)
        self.stacks = _Stream(_STACK_LIMIT)
        self.pid = 0
        self._buffer = b""
        self._received = 0

    # -- the loop --------------------------------------------------------------------

    def run(self) -> PluginReport:
        pool = self.pool
        assert pool._ctl is not None
        started = time.monotonic()
        chan, chan_child = socket.socketpair()
        pipes = [os.pipe() for _ in range(3)]
        request = {
            "path": str(self.path),
            "together": [str(p) for p in self.together],
            "plugin_dirs": list(self.plugin_dirs),
            "options": pickle.dumps(self.options),
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "sys_path": list(sys.path),
            "memory_limit": self.isolation.memory_limit,
        }
        try:
            socket.send_fds(
                pool._ctl,
                [pickle.dumps(request)],
                [chan_child.fileno(), *(w for _, w in pipes)],
            )
        except OSError as exc:
            raise pool._server_failed(f"is gone ({exc})") from None
        finally:
            chan_child.close()
            for _, w in pipes:
                os.close(w)
        readers: dict[Any, str] = {chan: "channel"}
        streams = {"stdout": self.stdout, "stderr": self.stderr, "stacks": self.stacks}
        for (r, _), name in zip(pipes, streams, strict=True):
            os.set_blocking(r, False)
            readers[r] = name
        readers[pool._ctl] = "ctl"
        self.stage_since = started
        # Once the worker has reported (or gone mute, or been killed), it has
        # ``exit_by`` to end; then it is killed, and then the wait ends.
        exit_by: float | None = None
        killed = False
        try:
            while self.status is None:
                now = time.monotonic()
                deadline = exit_by if exit_by is not None else self._deadline(started)
                if now >= deadline:
                    if not self.pid or killed:
                        break  # the server never said it started or ended it
                    if exit_by is None:
                        self._time_out(readers, streams)
                    else:
                        kill_tree(self.pid)
                    killed = True
                    exit_by = time.monotonic() + 5.0
                    continue
                ready, _, _ = select.select(list(readers), [], [], deadline - now)
                for source in ready:
                    if source in readers:
                        self._read(source, readers, streams)
                if exit_by is None and (
                    self.report is not None or "channel" not in readers.values()
                ):
                    exit_by = time.monotonic() + 2.0
        except BaseException:
            if self.pid:
                kill_tree(self.pid)
            raise
        finally:
            if self.pid and self.status is None:
                kill_tree(self.pid)
            elif self.pid:
                # Reaped: what is left of its process group goes now, orphans that
                # left the group are the server's to kill (it is their subreaper).
                with contextlib.suppress(OSError):
                    os.killpg(self.pid, signal.SIGKILL)
            self._drain(readers, streams)
            chan.close()
            for r, _ in pipes:
                os.close(r)
        return self._build(time.monotonic() - started)

    def _deadline(self, started: float) -> float:
        if not self.pid:
            return started + 30.0  # the server has not answered yet
        plugin = started + self.plugin_limit
        if self.stage:
            return min(plugin, self.stage_since + self.call_limit)
        return plugin

    def _read(self, source: Any, readers: dict[Any, str], streams: dict[str, _Stream]) -> None:
        name = readers[source]
        if name == "ctl":
            message = self.pool._recv_ctl(0.001)
            if message is None:
                # The server is gone: whatever it was running is gone with it.
                del readers[source]
                if self.status is None:
                    self.status = -1
                return
            if "started" in message and not self.pid:
                self.pid = int(message["started"])
                self.stage_since = time.monotonic()
            elif message.get("exited") == self.pid and self.pid:
                self.status = int(message["status"])
            return
        if name == "channel":
            try:
                chunk = source.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                del readers[source]
                return
            self._received += len(chunk)
            if self._received > _MESSAGE_LIMIT:
                del readers[source]
                return
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                self._message(line)
            return
        try:
            chunk = os.read(source, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            del readers[source]
            return
        streams[name].feed(chunk)

    def _drain(self, readers: dict[Any, str], streams: dict[str, _Stream]) -> None:
        """What is still in the pipes once the worker is gone (its orphans may keep them open)."""
        for source, name in list(readers.items()):
            if name not in streams:
                continue
            for _ in range(64):
                try:
                    chunk = os.read(source, 1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                streams[name].feed(chunk)

    def _message(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "stage" in message and isinstance(message["stage"], str):
            self.stage = message["stage"]
            self.stage_since = time.monotonic()
            if self.stage:
                self.last_stage = self.stage
        elif "secrets" in message and isinstance(message["secrets"], list):
            self.masker.add(str(s) for s in message["secrets"])
        elif "hello" in message:
            thread = message.get("main_thread")
            self.main_thread = thread if isinstance(thread, int) else None
        elif "exit_call" in message and isinstance(message["exit_call"], dict):
            self.exit_call = message["exit_call"]
        elif "crash" in message and isinstance(message["crash"], dict):
            self.crash = message["crash"]
        elif "report" in message:
            self.report = message
            killed = message.get("killed")
            if isinstance(killed, list):
                self.killed_left = [str(k) for k in killed]

    def _time_out(self, readers: dict[Any, str], streams: dict[str, _Stream]) -> None:
        now = time.monotonic()
        if self.stage and now >= self.stage_since + self.call_limit:
            self.timed_out = (
                f"{self.stage} did not finish within {self.call_limit:g} s (the isolation's "
                "per-call limit)"
            )
        else:
            self.timed_out = (
                f"the contract did not finish within {self.plugin_limit:g} s (the isolation's "
                "per-plugin limit)"
            )
        # Every thread's stack, from faulthandler in the worker, before it dies.
        before = self.stacks.total
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
        quiet_since = None
        until = time.monotonic() + 1.0
        stack_source = next((s for s, n in readers.items() if n == "stacks"), None)
        while stack_source is not None and time.monotonic() < until:
            ready, _, _ = select.select([stack_source], [], [], 0.05)
            if ready:
                self._read(stack_source, readers, streams)
                quiet_since = None
                if stack_source not in readers:
                    break
            elif self.stacks.total > before:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 0.1:
                    break
        kill_tree(self.pid)

    # -- the report --------------------------------------------------------------------

    def _build(self, seconds: float) -> PluginReport:
        from ..contract._runner import PluginReport

        report: PluginReport | None = None
        if self.report is not None and self.timed_out is None:
            try:
                report = PluginReport.from_json(
                    self.report.get("report"), duration=_number(self.report.get("duration"))
                )
            except ValueError:
                report = None
                self.crash = {"error": "the worker sent a report that is not one"}
            if report is not None:
                report.facts = _facts(self.report.get("facts"))
        if report is None:
            report = self._dead_report(seconds)
        for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
            if stream.total:
                text = self.masker(stream.data.decode(errors="replace"))
                if stream.total > len(stream.data):
                    text += (
                        f"\n[... truncated: {stream.total - len(stream.data)} more bytes of "
                        f"{stream.total}]"
                    )
                report.output[name] = text
        if self.killed_left:
            report.notes.append(
                "processes the plugin left running, killed when its contract ended:\n"
                + "\n".join(f"- {self.masker(k)}" for k in self.killed_left)
            )
        return report

    def _dead_report(self, seconds: float) -> PluginReport:
        from ..contract._checks import CHECKS
        from ..contract._runner import CheckResult, PluginReport

        stage = self.last_stage
        where = self._frame()
        if self.timed_out is not None:
            cause = self.timed_out
            if where:
                cause += f"; it was at {where}"
            threads = self._thread_lines()
            if threads:
                cause += "\nstacks of the worker's threads when it was killed:\n" + threads
        else:
            cause = self._death_cause(stage)
            if where:
                cause += f", at {where}"
        cause = self.masker(cause)
        if self.together:
            from ..contract._together import together_report

            report = together_report(self.directory, "failed", cause)
            report.duration = seconds
            return report
        failed_id = _stage_check(stage)
        if failed_id in self.options.skip:
            failed_id = next(c.id for c in CHECKS if c.id not in self.options.skip)
        doing = _doing(stage)
        not_run = f"not run: the plugin's worker process ended {doing} ({failed_id} failed)"
        results = []
        for check in CHECKS:
            if check.id in self.options.skip:
                results.append(
                    CheckResult(
                        check.id,
                        check.severity,
                        "skipped",
                        f"skipped by the user: {self.options.skip[check.id]}",
                    )
                )
            elif check.id == failed_id:
                results.append(CheckResult(check.id, check.severity, "failed", cause))
            else:
                results.append(CheckResult(check.id, check.severity, "skipped", not_run))
        return PluginReport(self.directory, _manifest_name(self.directory), results, seconds)

    def _death_cause(self, stage: str | None) -> str:
        doing = _doing(stage)
        if self.crash is not None:
            error = str(self.crash.get("error", "?"))
            where = self.crash.get("where")
            text = f"the contract run was ended by {error} {doing}"
            return text + (f", raised at {where}" if where else "")
        status = self.status
        if self.exit_call is not None:
            how = self.exit_call.get("how", "?")
            return f"the plugin ended its worker process with {how} {doing}"
        if status is None or status == -1:
            return f"the plugin's worker process was lost {doing} (its fork server died)"
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            name = _signal_name(-code)
            what = {
                "SIGSEGV": "a segmentation fault",
                "SIGBUS": "a bus error",
                "SIGABRT": "an abort",
                "SIGKILL": "SIGKILL (the out-of-memory killer, or a kill from outside)",
            }.get(name, name)
            return f"the plugin's worker process died of {what} {doing}"
        return f"the plugin's worker process ended with exit status {code} {doing}"

    def _threads(self) -> list[_Thread]:
        return parse_stacks(self.stacks.data.decode(errors="replace"))

    def _is_main(self, thread: _Thread) -> bool:
        if self.main_thread is None:
            return thread.header.startswith("Current thread")
        return f"0x{self.main_thread:016x}" in thread.header

    def _frame(self) -> str | None:
        """The plugin's innermost frame: in the stacks dumped, else where it exited or raised."""
        threads = sorted(self._threads(), key=lambda t: not self._is_main(t))
        for thread in threads:
            for file, line, func in thread.frames:
                if _inside(file, self.plugin_dirs):
                    return f"{file}:{line} in {func}"
        if self.exit_call is not None and self.exit_call.get("where"):
            return str(self.exit_call["where"])
        return None

    def _thread_lines(self) -> str:
        lines = []
        for thread in sorted(self._threads(), key=lambda t: not self._is_main(t)):
            mine = [
                f"{f}:{n} in {fn}" for f, n, fn in thread.frames if _inside(f, self.plugin_dirs)
            ]
            label = (
                "main thread" if self._is_main(thread) else f"thread {thread.header.split()[-4]}"
            )
            if mine:
                lines.append(f"- {label}: {mine[0]}")
        return "\n".join(lines)


_STAGE_CHECKS = {
    "health_check() before initialize()": "health.before_init",
    "shutdown() without initialize()": "lifecycle.shutdown_uninitialized",
    "initialize()": "lifecycle.initialize",
    "shutdown()": "lifecycle.shutdown",
    "second shutdown()": "lifecycle.double_shutdown",
    "initialize() after a restart": "lifecycle.restart",
    "shutdown() after a restart": "lifecycle.restart",
    "initialize() with a drawn valid configuration": "config.valid",
    "initialize() with an invalid configuration": "config.invalid",
}


def _prefixes(directory: Path) -> tuple[str, ...]:
    """The directory as frames may name it: absolute, and with symbolic links resolved."""
    return tuple({os.path.abspath(directory) + os.sep, str(directory.resolve()) + os.sep})


def _inside(file: str, prefixes: tuple[str, ...]) -> bool:
    return os.path.abspath(file).startswith(prefixes)


def _doing(stage: str | None) -> str:
    if not stage:
        return "before it called the plugin"
    return f"while {stage}" if stage.startswith("importing ") else f"during {stage}"


def _stage_check(stage: str | None) -> str:
    """The check a death or hang in ``stage`` fails."""
    if stage is None or stage.startswith("importing "):
        return "load.import"
    if stage in _STAGE_CHECKS:
        return _STAGE_CHECKS[stage]
    if stage.startswith(("GET ", "POST ", "PUT ", "PATCH ", "DELETE ")):
        return "routes.get_ok"
    if stage.startswith("handler of "):
        return "events.handlers_robust"
    return "lifecycle.initialize"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _facts(document: Any) -> Any:
    """The worker's facts for the set checks; ``None`` (the manifest is read instead) if
    they are not facts."""
    from ..contract._ecosystem import PluginFacts

    try:
        return PluginFacts.from_json(document)
    except ValueError:
        return None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _manifest_name(directory: Path) -> str | None:
    try:
        file = directory / "manifest.json"
        if file.stat().st_size > 1 << 20:
            return None
        name = json.loads(file.read_bytes()).get("name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


# ---------------------------------------------------------------------------- entry points

_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The pool of this process, started on first use and closed at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._pid != os.getpid():
            _shared = WorkerPool()
            import atexit

            atexit.register(close_shared_pool)
        return _shared


def close_shared_pool() -> None:
    """Close the pool of this process, if it has one (its server and workers end)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.close()


def check_plugin(
    path: Path | str,
    options: ContractOptions | None = None,
    isolation: IsolationOptions | None = None,
    *,
    pool: WorkerPool | None = None,
) -> PluginReport:
    """The contract of the plugin in ``path``, isolated as ``isolation`` says.

    ``process`` (default): in a worker process of ``pool`` (default: the
    process's :func:`shared_pool`); ``inline``: in this process, in an
    event loop of its own.  Never raises for a broken plugin.
    """
    from ..contract._runner import run_contract

    isolation = isolation or IsolationOptions()
    if isolation.mode == "inline" or not process_isolation_available():
        return asyncio.run(run_contract(path, options))
    return (pool or shared_pool()).run(path, options, isolation)


def start_together(
    paths: Sequence[Path | str],
    options: ContractOptions | None = None,
    isolation: IsolationOptions | None = None,
    *,
    pool: WorkerPool | None = None,
) -> PluginReport:
    """The plugins of ``paths`` started together in one host and stopped (``ecosystem.start``).

    Isolated as :func:`check_plugin` is: in a worker process of ``pool``, or
    inline.  The report's one result is ``ecosystem.start``'s.  Never raises
    for broken plugins.
    """
    from ..contract._together import run_together

    isolation = isolation or IsolationOptions()
    if isolation.mode == "inline" or not process_isolation_available():
        return asyncio.run(run_together(paths, options))
    return (pool or shared_pool()).run_together(paths, options, isolation)
