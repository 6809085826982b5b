"""In-process workloads of the benchmarks, each run by ``run.py`` in a fresh subprocess.

``python benchmarks/_work.py WORKLOAD [options]`` prints one JSON document on
stdout.  Workloads: ``requests`` (goal 3), ``contract`` (goal 4, warm),
``fakes`` (goal 5), ``phases`` (where a host-based test's time goes).

Compared variants are interleaved (A B A B ..., the first of each pair
alternating) so that drift of the machine cancels; figures are medians of the
rounds with their spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _projects import PREFIX  # noqa: E402
from _stats import alternating, ratios, spread  # noqa: E402

perf = time.perf_counter


async def _interleave(
    variants: dict[str, Callable[[], Awaitable[float]]], rounds: int
) -> dict[str, list[float]]:
    """:func:`_stats.interleaved` for coroutines: seconds per round of each variant."""
    times: dict[str, list[float]] = {n: [] for n in variants}
    for name in alternating(list(variants), rounds):
        times[name].append(await variants[name]())
    return times


# ---------------------------------------------------------------------------- goal 3


async def _requests(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from nexus_testkit import PluginHost

    block = args.block
    rounds = max(2, args.total // block)
    async with PluginHost(args.plugin) as host:
        raw = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host.app), base_url=f"http://testserver{PREFIX}"
        )
        nexus = host.client

        def timed(client: httpx.AsyncClient) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                t = perf()
                for _ in range(block):
                    r = await client.get("/ping")
                    if r.status_code != 200:
                        raise AssertionError(r.text)
                return (perf() - t) / block

            return run

        variants = {"nexus_client": timed(nexus), "raw_asgitransport": timed(raw)}
        for run in variants.values():  # warm-up
            await run()
        times = await _interleave(variants, rounds)
        await raw.aclose()
    paired = ratios(times["nexus_client"], times["raw_asgitransport"])
    return {
        "requests_per_variant": rounds * block,
        "block": block,
        "nexus_client_s": spread(times["nexus_client"]),
        "raw_s": spread(times["raw_asgitransport"]),
        "ratio": spread(paired),
    }


# ---------------------------------------------------------------------------- goal 4


async def _contract(args: argparse.Namespace) -> dict[str, Any]:
    t = perf()
    from nexus_testkit.contract._runner import run_contract

    import_s = perf() - t
    t = perf()
    warm = await run_contract(args.plugin)
    first_s = perf() - t
    times = []
    for _ in range(args.reps):
        gc.collect()
        t = perf()
        report = await run_contract(args.plugin)
        times.append(perf() - t)
        if not report.ok():
            raise SystemExit(f"contract failed on {args.plugin}: {report.errors}")
    return {
        "import_s": import_s,
        "first_run_s": first_s,
        "first_ok": warm.ok(),
        "warm_s": spread(times),
        "checks": len(report.results),
        "passed": sum(r.outcome == "passed" for r in report.results),
    }


# ---------------------------------------------------------------------------- goal 5


async def _fakes(args: argparse.Namespace) -> dict[str, Any]:
    from nexus.core import EventBus

    from nexus_testkit import RecordingDataStore, RecordingEventBus
    from nexus_testkit._interrupts import holding_alarm

    scale = args.scale
    rounds = args.rounds
    result: dict[str, Any] = {}

    # --- event bus: publish -> 3 handlers
    async def h1(event: Any) -> None:
        counter[0] += 1

    async def h2(event: Any) -> None:
        counter[0] += 1

    async def h3(event: Any) -> None:
        counter[0] += 1
        if counter[0] >= target[0]:
            done[0].set()

    counter = [0]
    target = [0]
    done: list[asyncio.Event] = [asyncio.Event()]

    def recording(timeout: float | None) -> Callable[[], Awaitable[float]]:
        n = 20_000 * scale

        async def run() -> float:
            bus = RecordingEventBus(handler_timeout=timeout)
            await bus.start()
            for h in (h1, h2, h3):
                bus.subscribe("bench.event", h)
            counter[0], target[0] = 0, 10**12
            gc.collect()
            # A running host keeps the SIGALRM handler installed (holding_alarm), so
            # that a deadline per handler costs no system call: measured the same way.
            with holding_alarm() if timeout is not None else contextlib.nullcontext():
                t = perf()
                for i in range(n):
                    await bus.publish("bench.event", {"i": i}, source="bench")
                elapsed = perf() - t
            assert counter[0] == 3 * n, counter[0]
            await bus.shutdown()
            return n / elapsed

        return run

    def platform() -> Callable[[], Awaitable[float]]:
        n = 4_000 * scale

        async def run() -> float:
            bus = EventBus()
            for h in (h1, h2, h3):
                bus.subscribe("bench.event", h)
            await bus.start()
            await asyncio.sleep(0)
            counter[0], target[0] = 0, 3 * n
            done[0] = asyncio.Event()
            gc.collect()
            t = perf()
            for i in range(n):
                await bus.publish("bench.event", {"i": i}, source="bench")
            await asyncio.wait_for(done[0].wait(), 60)
            elapsed = perf() - t
            await bus.shutdown()
            return n / elapsed

        return run

    bus_rates = await _interleave(
        {
            "recording": recording(None),
            "recording_host_timeout": recording(5.0),
            "platform": platform(),
        },
        rounds,
    )
    result["bus_events_per_s"] = {k: spread(v) for k, v in bus_rates.items()}
    result["bus_ratio_recording_over_platform"] = spread(
        ratios(bus_rates["recording"], bus_rates["platform"])
    )
    result["bus_ratio_host_over_platform"] = spread(
        ratios(bus_rates["recording_host_timeout"], bus_rates["platform"])
    )

    # --- data store: set + get
    class PlainDictAdapter:
        """A dict behind the adapter's async interface, nothing recorded."""

        def __init__(self) -> None:
            self.data: dict[str, Any] = {}
            self.connected = False

        async def connect(self) -> None:
            self.connected = True

        async def get(self, key: str, default: Any = None) -> Any:
            if not self.connected:
                raise RuntimeError("Database not connected")
            return self.data.get(key, default)

        async def set(self, key: str, value: Any) -> None:
            if not self.connected:
                raise RuntimeError("Database not connected")
            self.data[key] = value

    keys = [f"key-{i % 500}" for i in range(20_000 * scale)]
    value = {"name": "item", "count": 3, "tags": ["a", "b"]}

    def store_run(make: Callable[[], Any]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            store = make()
            await store.connect()
            gc.collect()
            t = perf()
            for key in keys:
                await store.set(key, value)
                await store.get(key)
            elapsed = perf() - t
            return elapsed / (2 * len(keys))  # seconds per operation

        return run

    store_times = await _interleave(
        {
            "recording_memory": store_run(lambda: RecordingDataStore("memory")),
            "plain_dict": store_run(PlainDictAdapter),
            "recording_sql": store_run(lambda: RecordingDataStore("sql")),
        },
        rounds,
    )
    result["store_s_per_op"] = {k: spread(v) for k, v in store_times.items()}
    result["store_ratio_memory_over_plain"] = spread(
        ratios(store_times["recording_memory"], store_times["plain_dict"])
    )
    result["store_ratio_sql_over_memory"] = spread(
        ratios(store_times["recording_sql"], store_times["recording_memory"])
    )
    result["bus_events"] = {"recording": 20_000 * scale, "platform": 4_000 * scale}
    result["store_ops"] = 2 * len(keys)
    return result


# ---------------------------------------------------------------------------- phases


class _Timers:
    """Wraps functions to add their inclusive wall time (and call count) to a label."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.enabled = False

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        timers = self
        if asyncio.iscoroutinefunction(original):

            async def awrapper(*a: Any, **k: Any) -> Any:
                if not timers.enabled:
                    return await original(*a, **k)
                t = perf()
                try:
                    return await original(*a, **k)
                finally:
                    timers.total[label] += perf() - t
                    timers.calls[label] += 1

            setattr(owner, name, awrapper)
        else:

            def wrapper(*a: Any, **k: Any) -> Any:
                if not timers.enabled:
                    return original(*a, **k)
                t = perf()
                try:
                    return original(*a, **k)
                finally:
                    timers.total[label] += perf() - t
                    timers.calls[label] += 1

            setattr(owner, name, wrapper)


def _phases(args: argparse.Namespace) -> dict[str, Any]:
    import fastapi
    import httpx
    from asgi_lifespan import LifespanManager

    import nexus_testkit.host._app as app_mod
    import nexus_testkit.host._blocking as blocking_mod
    import nexus_testkit.host._host as host_mod
    import nexus_testkit.host._network as network_mod
    import nexus_testkit.host._state as state_mod
    import nexus_testkit.host._tasks as tasks_mod
    from nexus_testkit import ConfigStore, HostOptions, PluginHost, load_manifest, resolve_config
    from nexus_testkit.backends._build import make_data_store, make_event_bus, make_services
    from nexus_testkit.host._loader import LoadedPlugin

    plugin_dir = Path(args.plugin)
    timers = _Timers()
    w = timers.wrap
    # The fixtures' own work, before the host (each nexus_client test does it).
    w(sys.modules[__name__], "load_manifest_f", "fixtures: load_manifest (per test)")
    w(sys.modules[__name__], "resolve_config_f", "fixtures: resolve_config + ConfigStore")
    w(sys.modules[__name__], "components_f", "fixtures: bus + store + services")
    # The host's pieces as they are today (host/_host.py's stack): a name that no
    # longer exists fails here with AttributeError, so that the list is kept up.
    w(PluginHost, "__init__", "PluginHost.__init__")
    w(PluginHost, "start", "PluginHost.start (total)")
    w(PluginHost, "_enter_guards", "  start: _enter_guards (watch, logs, alarm, tasks, world)")
    w(state_mod.ProcessWatch, "start", "    ProcessWatch.start (first snapshot)")
    w(tasks_mod.TaskTracker, "install", "    TaskTracker.install")
    w(network_mod._Guard, "acquire", "    network_guard.acquire")
    w(PluginHost, "_start_serving", "  start: _start_serving (import, initialize, app)")
    w(host_mod, "import_plugin", "    import_plugin (fresh package, exec)")
    w(PluginHost, "_initialize", "    _initialize (initialize() under a time-out)")
    w(host_mod, "run_with_timeout", "    run_with_timeout (initialize/shutdown)")
    w(host_mod, "build_app", "    build_app (FastAPI app, routers)")
    w(fastapi.FastAPI, "__init__", "      FastAPI() construction")
    w(fastapi.FastAPI, "include_router", "      include_router")
    w(LifespanManager, "__aenter__", "    LifespanManager.__aenter__")
    w(app_mod, "_transport_class", "    _transport_class()")
    w(httpx.AsyncClient, "__init__", "    httpx.AsyncClient()")
    w(httpx.AsyncClient, "get", "GET /ping through the client")
    w(state_mod.ProcessWatch, "_compare", "ProcessWatch._compare (before/after each call)")
    w(PluginHost, "aclose", "PluginHost.aclose (total)")
    w(PluginHost, "_stop_serving", "  aclose: _stop_serving (shutdown, lifespan exit)")
    w(PluginHost, "_shutdown", "    _shutdown (shutdown() and settle)")
    w(tasks_mod.TaskTracker, "settle", "      TaskTracker.settle")
    w(tasks_mod.TaskTracker, "cancel_pending", "  aclose: TaskTracker.cancel_pending")
    w(httpx.AsyncClient, "aclose", "  aclose: client.aclose")
    w(PluginHost, "_end_watch", "  aclose: _end_watch (last compare, threads, restore)")
    w(LoadedPlugin, "unload", "  aclose: LoadedPlugin.unload (scan sys.modules)")
    w(network_mod._Guard, "release", "  aclose: network_guard.release")
    w(PluginHost, "verify", "PluginHost.verify")
    w(tasks_mod, "_creation_site", "TaskTracker._creation_site (stack walk)")
    w(fastapi.routing.APIRoute, "__init__", "APIRoute() (plugin's router + include_router)")
    del blocking_mod

    module = sys.modules[__name__]

    async def host_cycle() -> None:
        manifest = module.load_manifest_f(load_manifest, plugin_dir)
        store = module.resolve_config_f(resolve_config, ConfigStore, manifest)
        bus, data, services = module.components_f(make_event_bus, make_data_store, make_services)
        host = PluginHost(
            plugin_dir,
            HostOptions(timeout=5.0, fidelity="memory", backend="fake"),
            manifest=manifest,
            config_store=store,
            event_bus=bus,
            data_store=data,
            services=services,
        )
        await host.start()
        r = await host.client.get("/ping")
        assert r.status_code == 200
        await host.aclose()
        host.verify()

    tmp_floor = Path(args.floor_source)
    floor_ns: dict[str, Any] = {"__file__": str(tmp_floor), "__name__": "bench_floor"}
    exec(compile(tmp_floor.read_text(), str(tmp_floor), "exec"), floor_ns)

    async def floor_cycle() -> None:
        await floor_ns["test_get"](0)

    def run_many(cycle: Callable[[], Awaitable[None]], n: int, fresh_loop: bool) -> float:
        t = perf()
        if fresh_loop:  # like pytest-asyncio: a new event loop per test
            for _ in range(n):
                with asyncio.Runner() as runner:
                    runner.run(cycle())
        else:
            with asyncio.Runner() as runner:
                for _ in range(n):
                    runner.run(cycle())
        return (perf() - t) / n

    n = args.iterations
    run_many(host_cycle, 20, False)  # warm-up: imports, code cache
    run_many(floor_cycle, 20, False)
    per_round = max(10, n // 10)
    host_ms: list[float] = []
    floor_ms: list[float] = []
    loop_ms: list[float] = []

    async def nothing() -> None:
        return None

    for r in range(max(2, n // per_round)):
        pair = [("host", host_cycle), ("floor", floor_cycle)]
        if r % 2:
            pair.reverse()
        for name, cycle in pair:
            if name == "host":
                timers.enabled = True
            s = run_many(cycle, per_round, False)
            timers.enabled = False
            (host_ms if name == "host" else floor_ms).append(s * 1000)
        loop_ms.append(run_many(nothing, per_round, True) * 1000)
    timed_cycles = len(host_ms) * per_round
    phases = {
        label: {
            "ms": total / timed_cycles * 1000,
            "calls_per_test": timers.calls[label] / timed_cycles,
        }
        for label, total in timers.total.items()
    }
    # The instrumented host cycle again without the timers, for their overhead.
    bare = [run_many(host_cycle, per_round, False) * 1000 for _ in range(3)]

    # Drift over a long session: what one host leaves behind for the next.
    import logging

    hosts = 40 + len(host_ms) * per_round + 3 * per_round
    logs = ("  start: _attach_logs", "  aclose: _detach_logs")
    drift = []
    block = 500
    for _ in range(args.drift_blocks):
        before = sum(timers.total[k] for k in logs)
        loggers = len(logging.Logger.manager.loggerDict)
        timers.enabled = True
        cycle = run_many(host_cycle, block, False)
        timers.enabled = False
        drift.append(
            {
                "hosts_before": hosts,
                "loggers": loggers,
                "cycle_ms": cycle * 1000,
                "logs_ms": (sum(timers.total[k] for k in logs) - before) / block * 1000,
            }
        )
        hosts += block
    loggers_end = len(logging.Logger.manager.loggerDict)
    drift.append(
        {
            "hosts_before": hosts,
            "loggers": loggers_end,
            "cycle_ms": run_many(host_cycle, 100, False) * 1000,
            "logs_ms": None,
        }
    )
    return {
        "drift": drift,
        "loggers_per_host": (loggers_end - drift[0]["loggers"])
        / max(1, drift[-1]["hosts_before"] - drift[0]["hosts_before"]),
        "host_cycle_ms": spread(host_ms),
        "host_cycle_uninstrumented_ms": spread(bare),
        "floor_cycle_ms": spread(floor_ms),
        "fresh_event_loop_ms": spread(loop_ms),
        "cycles": timed_cycles,
        "phases_ms_per_test": phases,
    }


# Indirections so that the fixtures' steps can be timed like the others.
def load_manifest_f(load: Any, path: Path) -> Any:
    return load(path)


def resolve_config_f(resolve: Any, config_store: Any, manifest: Any) -> Any:
    return config_store(resolve(manifest, {}), secret_keys=manifest.secret_keys)


def components_f(bus: Any, store: Any, services: Any) -> tuple[Any, Any, Any]:
    return bus("fake"), store("fake", fidelity="memory"), services("fake")


# ---------------------------------------------------------------------------- rewrite


def _rewrite(args: argparse.Namespace) -> dict[str, Any]:
    """What pytest's assertion rewriting costs for the harness's modules, per session.

    pytest rewrites every module of a distribution with a pytest11 entry point
    (pytest-nexus: nexus_testkit and pytest_nexus); with PYTHONDONTWRITEBYTECODE
    it cannot cache the result, so each session parses, rewrites and compiles
    the modules a host imports again.
    """
    import ast

    from _pytest.assertion.rewrite import rewrite_asserts

    import pytest_nexus.plugin  # noqa: F401
    from nexus_testkit import PluginHost

    async def one() -> None:
        async with PluginHost(args.plugin) as host:
            await host.client.get("/ping")

    asyncio.run(one())
    files = sorted(
        {
            m.__file__
            for name, m in list(sys.modules.items())
            if name.split(".")[0] in ("nexus_testkit", "pytest_nexus")
            and getattr(m, "__file__", None)
        }
    )
    sources = [(f, Path(f).read_bytes()) for f in files]

    def rewrite_all() -> float:
        t = perf()
        for f, src in sources:
            tree = ast.parse(src, filename=f)
            rewrite_asserts(tree, src, Path(f), None)
            compile(tree, f, "exec", dont_inherit=True)
        return perf() - t

    def compile_all() -> float:
        t = perf()
        for f, src in sources:
            compile(src, f, "exec", dont_inherit=True)
        return perf() - t

    rw = [rewrite_all() for _ in range(5)]
    co = [compile_all() for _ in range(5)]
    return {
        "modules": len(files),
        "lines": sum(src.count(b"\n") for _, src in sources),
        "rewrite_ms": statistics.median(rw) * 1000,
        "compile_ms": statistics.median(co) * 1000,
        "files": [str(Path(f).relative_to(Path(f).parents[1])) for f in files],
    }


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="workload", required=True)
    p = sub.add_parser("requests")
    p.add_argument("--plugin", required=True)
    p.add_argument("--total", type=int, default=2000)
    p.add_argument("--block", type=int, default=100)
    p = sub.add_parser("contract")
    p.add_argument("--plugin", required=True)
    p.add_argument("--reps", type=int, default=5)
    p = sub.add_parser("fakes")
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--rounds", type=int, default=6)
    p = sub.add_parser("phases")
    p.add_argument("--plugin", required=True)
    p.add_argument("--floor-source", required=True)
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--drift-blocks", type=int, default=4)
    p = sub.add_parser("rewrite")
    p.add_argument("--plugin", required=True)
    args = parser.parse_args()
    if args.workload == "phases":
        result = _phases(args)
    elif args.workload == "rewrite":
        result = _rewrite(args)
    else:
        result = asyncio.run(
            {"requests": _requests, "contract": _contract, "fakes": _fakes}[args.workload](args)
        )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
