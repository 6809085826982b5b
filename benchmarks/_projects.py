"""Throw-away projects the benchmarks run pytest in (written to a temporary directory).

Nothing here is imported by the harness; ``run.py`` writes these files under
a temporary directory, runs pytest there as a subprocess, and deletes them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

PLUGIN_NAME = "bench_minimal"
PREFIX = f"/api/plugins/{PLUGIN_NAME}"

MANIFEST = {
    "name": PLUGIN_NAME,
    "version": "1.0.0",
    "category": "testing",
    "description": "Minimal plugin of the pytest-nexus benchmarks: one GET route",
    "author": "pytest-nexus benchmarks",
    "api_endpoints": [{"method": "GET", "path": "/ping", "description": "pong"}],
}

PLUGIN = """\
from fastapi import APIRouter
from nexus.plugins import BasePlugin


class BenchMinimalPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = "bench_minimal"
        self.version = "1.0.0"
        self.category = "testing"

    async def initialize(self) -> bool:
        self.initialized = True
        return True

    async def shutdown(self) -> None:
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"ok": True}

        return [router]

    def get_database_schema(self):
        return {}


def create_plugin():
    return BenchMinimalPlugin()
"""

PYTEST_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# The number of tests comes from the environment, so that one file serves
# every size and the two sizes of a differential differ in nothing else.
_HEADER = """\
import os

import pytest

N = int(os.environ.get("BENCH_N", "1"))
"""

TEST_NEXUS = (
    _HEADER
    + """

@pytest.mark.parametrize("i", range(N))
async def test_get(nexus_client, i):
    r = await nexus_client.get("/ping")
    assert r.status_code == 200
"""
)

# The same plugin started by hand: the module imported once, minimal fakes
# injected, initialize(), a fresh FastAPI app with the routers at the same
# prefix, httpx over ASGITransport inside LifespanManager, one GET, shutdown.
_FLOOR_COMMON = (
    _HEADER
    + """
import importlib.util
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

PREFIX = "/api/plugins/bench_minimal"
_spec = importlib.util.spec_from_file_location(
    "bench_minimal_plugin_floor", Path(__file__).parent.parent / "plugin.py"
)
plugin_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin_module)


class Store:
    def __init__(self):
        self.data = {}

    async def get(self, key, default=None):
        return self.data.get(key, default)

    async def set(self, key, value):
        self.data[key] = value


class Bus:
    def __init__(self):
        self.subscribers = {}

    async def publish(self, name, data=None, priority=None, source=None):
        for handler in self.subscribers.get(name, []):
            await handler(data)

    def subscribe(self, name, handler):
        self.subscribers.setdefault(name, []).append(handler)

    def unsubscribe(self, name, handler):
        self.subscribers[name].remove(handler)


class Services:
    def __init__(self):
        self.services = {}

    def register(self, name, service, interface=None):
        self.services[name] = service

    def unregister(self, name):
        self.services.pop(name, None)

    def get(self, name):
        return self.services.get(name)


def make_plugin():
    plugin = plugin_module.create_plugin()
    plugin.db_adapter = Store()
    plugin.event_bus = Bus()
    plugin.service_registry = Services()
    plugin.config = {}
    return plugin


def make_app(plugin, **kwargs):
    app = FastAPI(**kwargs)
    for router in plugin.get_api_routes():
        app.include_router(router, prefix=PREFIX)
    return app
"""
)

TEST_FLOOR = (
    _FLOOR_COMMON
    + """

@pytest.mark.parametrize("i", range(N))
async def test_get(i):
    plugin = make_plugin()
    assert await plugin.initialize() is True
    app = make_app(plugin)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver" + PREFIX
        ) as client:
            r = await client.get("/ping")
    await plugin.shutdown()
    assert r.status_code == 200
"""
)

# The floor again, as an async fixture: how much of the harness's per-test
# cost is pytest-asyncio's fixture machinery rather than the harness.
TEST_FLOOR_FIXTURE = (
    _FLOOR_COMMON
    + """

@pytest.fixture
async def client():
    plugin = make_plugin()
    assert await plugin.initialize() is True
    app = make_app(plugin)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver" + PREFIX
        ) as client:
            yield client
    await plugin.shutdown()


@pytest.mark.parametrize("i", range(N))
async def test_get(client, i):
    r = await client.get("/ping")
    assert r.status_code == 200
"""
)

# The floor fixture behind a graph of trivial sync fixtures shaped like the
# harness's (nexus_client -> nexus_host -> path, manifest, config, config
# store, bus, store, services, clock, http): what pytest's fixture machinery
# alone costs.  Keep it the same shape as nexus_client's closure.
TEST_FLOOR_CHAIN = (
    _FLOOR_COMMON
    + """

@pytest.fixture
def f_path():
    return Path(__file__).parent.parent


@pytest.fixture
def f_manifest(f_path):
    return {"name": "bench_minimal"}


@pytest.fixture
def f_config(request, f_manifest):
    return {}


@pytest.fixture
def f_config_store(f_config, f_manifest):
    return dict(f_config)


@pytest.fixture
def f_bus(request):
    yield Bus()


@pytest.fixture
def f_store(request):
    yield Store()


@pytest.fixture
def f_services(request):
    return Services()


@pytest.fixture
def f_clock(request):
    return object()


@pytest.fixture
def f_http(request):
    return object()


@pytest.fixture
async def f_host(
    request, f_path, f_manifest, f_config_store, f_bus, f_store, f_services, f_clock, f_http
):
    plugin = plugin_module.create_plugin()
    plugin.db_adapter, plugin.event_bus, plugin.service_registry = f_store, f_bus, f_services
    plugin.config = f_config_store
    assert await plugin.initialize() is True
    app = make_app(plugin)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver" + PREFIX
        ) as client:
            yield client
    await plugin.shutdown()


@pytest.fixture
def client(f_host):
    return f_host


@pytest.mark.parametrize("i", range(N))
async def test_get(client, i):
    r = await client.get("/ping")
    assert r.status_code == 200
"""
)

TEST_TESTCLIENT = (
    _FLOOR_COMMON
    + """
from contextlib import asynccontextmanager

from fastapi.testclient import TestClient


@pytest.mark.parametrize("i", range(N))
def test_get(i):
    plugin = make_plugin()

    @asynccontextmanager
    async def lifespan(app):
        assert await plugin.initialize() is True
        yield
        await plugin.shutdown()

    app = make_app(plugin, lifespan=lifespan)
    with TestClient(app) as client:
        r = client.get(PREFIX + "/ping")
    assert r.status_code == 200
"""
)

VARIANT_FILES = {
    "nexus_client": "test_nexus.py",
    "floor": "test_floor.py",
    "floor_fixture": "test_floor_fixture.py",
    "floor_chain": "test_floor_chain.py",
    "testclient": "test_testclient.py",
}

TRIVIAL_TESTS = "\n\n".join(
    f"def test_trivial_{i}():\n    assert {i} + 1 == {i + 1}" for i in range(20)
)

# Loaded through PYTEST_PLUGINS in runs that are not timed: records test phase
# durations, heavy modules imported, and (BENCH_PROBE_AUDIT=1) sockets bound or
# connected and files written in the project directory, one JSON file per process.
PROBE_PLUGIN = """\
import gc
import json
import os
import resource
import socket
import sys
import time

import pytest

OUT = os.environ["BENCH_PROBE_OUT"]
PROJECT = os.environ.get("BENCH_PROBE_PROJECT", "")
HEAVY = ("fastapi", "starlette", "httpx", "hypothesis", "faker", "jsonschema", "nexus",
         "nexus_testkit", "pydantic", "sqlalchemy", "asgi_lifespan")
_durations = []
_sockets = []
_writes = []
_INET = (socket.AF_INET, socket.AF_INET6)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event, args):
    try:
        if event in ("socket.bind", "socket.connect", "socket.sendto"):
            if getattr(args[0], "family", None) in _INET:
                _sockets.append([event, repr(args[-1])])
        elif event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)):
                return
            path = os.fsdecode(path)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                full = os.path.abspath(path)
                if full.startswith(PROJECT) and ".pytest_cache" not in full:
                    _writes.append(full)
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir"):
            path = os.fsdecode(args[0])
            dir_fd = args[-1] if event != "os.rename" else args[2]
            if isinstance(dir_fd, int) and not os.path.isabs(path):
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
            full = os.path.abspath(path)
            if full.startswith(PROJECT) and ".pytest_cache" not in full:
                _writes.append(event + " " + full)
    except Exception:
        pass


if os.environ.get("BENCH_PROBE_AUDIT") == "1":
    sys.addaudithook(_audit)

# Garbage collection: time spent, and in full (generation 2) collections.
_gc = {"seconds": 0.0, "collections": 0, "gen2_seconds": 0.0, "started": 0.0}


def _gc_callback(phase, info):
    if phase == "start":
        _gc["started"] = time.perf_counter()
        return
    spent = time.perf_counter() - _gc["started"]
    _gc["seconds"] += spent
    _gc["collections"] += 1
    if info.get("generation") == 2:
        _gc["gen2_seconds"] += spent


gc.callbacks.append(_gc_callback)
_alive = {}


def pytest_sessionfinish(session):
    # What the session still holds after the last test: hosts and apps kept alive.
    gc.collect()
    names = ("PluginHost", "FastAPI", "AsyncClient", "RecordingEventBus", "LoadedPlugin")
    counts = dict.fromkeys(names, 0)
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in counts:
            counts[name] += 1
    _alive.update(counts)
    _alive["objects"] = len(gc.get_objects())

# BENCH_PROBE_PROFILE=1: cProfile each test's runtest protocol (setup, call,
# teardown, reports) from the second test on, so that the first test's
# one-time work (imports) is left out; stats go to OUT.<worker>.<pid>.prof.
_profiler = None
_protocols = 0
if os.environ.get("BENCH_PROBE_PROFILE") == "1":
    import cProfile

    _profiler = cProfile.Profile()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    global _protocols
    _protocols += 1
    on = _profiler is not None and _protocols > 1
    if on:
        _profiler.enable()
    try:
        return (yield)
    finally:
        if on:
            _profiler.disable()


def pytest_runtest_logreport(report):
    _durations.append([report.when, report.duration])


def pytest_unconfigure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
    document = {
        "pid": os.getpid(),
        "worker": worker,
        "heavy_modules": heavy,
        "durations": _durations,
        "sockets": _sockets,
        "writes": sorted(set(_writes)),
        "profiled_tests": max(0, _protocols - 1) if _profiler is not None else 0,
        "gc": {k: v for k, v in _gc.items() if k != "started"},
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "alive_at_end": _alive,
    }
    if _profiler is not None:
        _profiler.dump_stats(f"{OUT}.{worker}.{os.getpid()}.prof")
    with open(f"{OUT}.{worker}.{os.getpid()}.json", "w") as f:
        json.dump(document, f)
"""


def write_plugin_project(root: Path) -> Path:
    """The minimal plugin with every per-test variant's test file; returns the test dir."""
    plugin = root / "plugins" / PLUGIN_NAME
    tests = plugin / "tests"
    tests.mkdir(parents=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    (plugin / "manifest.json").write_text(json.dumps(MANIFEST, indent=2))
    (plugin / "plugin.py").write_text(PLUGIN)
    sources = {
        "test_nexus.py": TEST_NEXUS,
        "test_floor.py": TEST_FLOOR,
        "test_floor_fixture.py": TEST_FLOOR_FIXTURE,
        "test_floor_chain.py": TEST_FLOOR_CHAIN,
        "test_testclient.py": TEST_TESTCLIENT,
    }
    for name, source in sources.items():
        (tests / name).write_text(source)
    return tests


def write_unused_project(root: Path) -> None:
    """20 trivial tests, no Nexus fixture, option or plugin."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_trivial.py").write_text(TRIVIAL_TESTS + "\n")


def write_probe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "benchprobe.py").write_text(PROBE_PLUGIN)


def copy_renamed_plugin(source: Path, target: Path, old: str, new: str) -> None:
    """Copy manifest.json and plugin.py of ``source``, renaming the plugin ``old`` -> ``new``.

    Every occurrence is renamed: the manifest's "name", the class's
    ``self.name`` and the event names built from it and declared in the manifest.
    """
    target.mkdir(parents=True)
    for name in ("manifest.json", "plugin.py"):
        text = (source / name).read_text()
        (target / name).write_text(text.replace(old, new))
    for extra in source.iterdir():  # helper modules of the plugin, if any
        if extra.suffix == ".py" and extra.name != "plugin.py":
            shutil.copy(extra, target / extra.name)
