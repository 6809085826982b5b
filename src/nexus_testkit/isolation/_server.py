"""The fork server: started once per process that runs contracts, forks one worker per plugin.

``python -P -m nexus_testkit.isolation._server FD`` with ``FD`` one end of
an AF_UNIX SOCK_SEQPACKET pair.  It imports the heavy modules (FastAPI,
httpx, pydantic, hypothesis, the contract, nexus-platform when installed),
runs the contract once on a small plugin of its own so that the caches the
first run fills (hypothesis' strategies, pydantic's schemas, FastAPI's
OpenAPI code) are filled before any fork, freezes the garbage collector's
view of all that (``gc.freeze()``: children do not touch those pages), and
then serves, single-threaded, which is what makes ``fork()`` safe here: no
other thread can hold a lock at the moment of the fork.  (A bare
``os.fork()`` of a pytest process can: pytest-xdist's execnet, a plugin's
thread, asyncio's executor.)

This is multiprocessing's ``forkserver`` idea with ``set_forkserver_preload``,
written out because the harness needs what that server does not give: the
workers' descriptors passed over the control socket, their exit statuses
reported as they happen, and the server as a child subreaper that kills
whatever a dead worker left behind.

Messages from the parent: a pickle ``{"path", "options", ...}`` with four
descriptors (channel, stdout, stderr, stacks).  To the parent (JSON):
``{"ready": ...}`` once, ``{"started": pid}`` per request,
``{"exited": pid, "status": waitstatus}`` per worker.  End of file on the
control socket ends the server and every worker left.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import select
import signal
import socket
import sys
import tempfile
import time
import warnings
from importlib.util import find_spec
from typing import Any

from ._procs import children, kill_tree, set_subreaper

__all__ = ["PRELOAD", "main"]

#: Imported before the first fork; ``nexus.plugins`` only where nexus-platform is installed.
PRELOAD = (
    "fastapi",
    "httpx",
    "pydantic",
    "hypothesis",
    "asgi_lifespan",
    "jsonschema",
    "nexus_testkit.contract._runner",
    "nexus_testkit.contract._report",
    "nexus_testkit.strategies",
    "nexus_testkit.strategies._config",
    "nexus_testkit.strategies._payloads",
    "nexus_testkit.strategies._schema",
    "nexus.plugins",
)

_WARM_MANIFEST = {
    "name": "nexus_warm_up",
    "version": "0.1.0",
    "category": "test",
    "permissions": ["events.subscribe"],
    "events": {"subscribes": ["warm.up"]},
    "configuration": {
        "label": {"type": "string", "enum": ["x", "y"], "default": "x"},
        "count": {"type": "integer", "default": 1, "min": 0, "max": 9},
        "on": {"type": "boolean", "default": True},
        "token": {"type": "string", "secret": True, "required": True},
    },
}

_WARM_PLUGIN = """
from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class WarmUpPlugin:
    def __init__(self):
        self.name, self.category, self.version = "nexus_warm_up", "test", "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        count = self.config.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 9:
            return False
        label = self.config.get("label", "x")
        if label not in ("x", "y"):
            return False
        if not isinstance(self.config.get("on", True), bool):
            return False
        if not isinstance(self.config.get("token"), str):
            return False
        await self.event_bus.subscribe("warm.up", self.on_warm)
        self.initialized = True
        return True

    async def on_warm(self, event):
        pass

    async def shutdown(self):
        if self.event_bus is not None and self.initialized:
            await self.event_bus.unsubscribe("warm.up", self.on_warm)
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return WarmUpPlugin()
"""


def _preload() -> list[str]:
    loaded = []
    for name in PRELOAD:
        try:
            if find_spec(name.partition(".")[0]) is None:
                continue
            __import__(name)
            loaded.append(name)
        except Exception:  # a broken optional install: the worker imports it itself
            continue
    return loaded


def _warm_up() -> None:
    import asyncio

    from ..contract._runner import ContractOptions, run_contract

    with tempfile.TemporaryDirectory(prefix="nexus-warm-up-") as tmp:
        directory = os.path.join(tmp, "nexus_warm_up")
        os.mkdir(directory)
        with open(os.path.join(directory, "manifest.json"), "w") as file:
            json.dump(_WARM_MANIFEST, file)
        with open(os.path.join(directory, "plugin.py"), "w") as file:
            file.write(_WARM_PLUGIN)
        asyncio.run(run_contract(directory, ContractOptions(examples=5)))
    asyncio.set_event_loop_policy(None)


def _send(sock: socket.socket, **message: Any) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ctl = socket.socket(fileno=int(args[0]))
    started = time.perf_counter()
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = _preload()
        warm = "--no-warm-up" not in args
        if warm:
            try:
                _warm_up()
            except Exception:  # warming is an optimisation; the workers still run
                warm = False
    warnings.filters[:] = filters  # type: ignore[index]
    import threading

    threads = threading.active_count()
    gc.collect()
    gc.freeze()
    subreaper = set_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(
        ctl,
        ready=os.getpid(),
        preloaded=loaded,
        warm=warm,
        threads=threads,
        subreaper=subreaper,
        seconds=time.perf_counter() - started,
    )
    workers: set[int] = set()
    try:
        _serve(ctl, wake_r, wake_w, workers)
    finally:
        for pid in list(workers):
            kill_tree(pid)
        for pid in children(os.getpid()):
            kill_tree(pid)


def _serve(ctl: socket.socket, wake_r: int, wake_w: int, workers: set[int]) -> None:
    me = os.getpid()
    while True:
        try:
            readable, _, _ = select.select([ctl.fileno(), wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(ctl, workers, me)
        if ctl.fileno() in readable:
            try:
                data, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 22, 8)
            except OSError:
                return
            if not data:
                return  # the parent closed the socket, or died
            request = pickle.loads(data)
            pid = os.fork()
            if pid == 0:
                ctl.close()
                os.close(wake_r)
                os.close(wake_w)
                from . import _worker

                _worker.main(request, fds)
            for fd in fds:
                os.close(fd)
            workers.add(pid)
            _send(ctl, started=pid)


def _reap(ctl: socket.socket, workers: set[int], me: int) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in workers:
            workers.discard(pid)
            _send(ctl, exited=pid, status=status)
    # Any other child is an orphan a worker left (we are its subreaper): kill it.
    for pid in children(me):
        if pid not in workers:
            kill_tree(pid)


if __name__ == "__main__":
    main()
    # Nothing is left to write; tearing down the preloaded modules is what the
    # interpreter's own exit would do, and that took seconds on a busy machine
    # while the parent waited for the server to end.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
