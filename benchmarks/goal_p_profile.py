"""Profile (rows P): where a ``nexus_client`` test's time and memory go; they explain goal 2."""

from __future__ import annotations

import json
import pstats
import re
import statistics
from pathlib import Path
from typing import Any

import _projects
from _common import Settings, plugin_dir, probe_env, pytest_cmd, row, run, work

GOAL = "profile"


#: (file or package, function, label) of the functions the profile reports.
_PROFILE_FUNCS = (
    ("_pytest/runner.py", "pytest_runtest_setup", "pytest setup phase (all fixtures)"),
    ("_pytest/runner.py", "pytest_runtest_call", "pytest call phase (the test)"),
    ("_pytest/runner.py", "pytest_runtest_teardown", "pytest teardown phase"),
    ("pytest_nexus/", "nexus_host", "nexus_host fixture body"),
    ("pytest_nexus/", "nexus_manifest", "nexus_manifest fixture (load_manifest)"),
    ("pytest_nexus/", "nexus_plugin_path", "nexus_plugin_path fixture"),
    ("pytest_nexus/", "host_options", "host_options (markers, once per test)"),
    ("pytest_nexus/", "pytest_runtest_makereport", "pytest_runtest_makereport wrapper"),
    ("nexus_testkit/host/_host.py", "start", "PluginHost.start"),
    ("nexus_testkit/host/_host.py", "_instance", "  _instance (import, wire, initialize)"),
    ("nexus_testkit/host/_loader.py", "import_plugin", "    import_plugin"),
    ("nexus_testkit/host/_app.py", "build_app", "  build_app"),
    ("fastapi/applications.py", "__init__", "    FastAPI()"),
    ("fastapi/applications.py", "include_router", "    include_router"),
    ("asgi_lifespan/_manager.py", "__aenter__", "    LifespanManager.__aenter__"),
    ("httpx/_client.py", "get", "GET through httpx"),
    ("nexus_testkit/host/_host.py", "aclose", "PluginHost.aclose"),
    ("nexus_testkit/host/_host.py", "_shutdown", "  _shutdown"),
    ("nexus_testkit/host/_loader.py", "unload", "  LoadedPlugin.unload"),
    ("nexus_testkit/host/_logs.py", "detach_all", "  LogCapture.detach_all"),
    ("nexus_testkit/host/_host.py", "_enter_guards", "_enter_guards"),
    ("nexus_testkit/host/_tasks.py", "_creation_site", "TaskTracker._creation_site"),
    ("pytest_asyncio/plugin.py", "_scoped_runner", "pytest-asyncio runner fixture"),
)


def _package(filename: str) -> str:
    f = filename.replace("\\", "/")
    if f.startswith(("~", "<")):
        return "builtins/frozen"
    for own in ("nexus_testkit", "pytest_nexus"):
        if f"/{own}/" in f:
            return own
    if "/site-packages/" in f:
        return f.split("/site-packages/")[1].split("/")[0].removesuffix(".py")
    m = re.search(r"/lib/python3\.\d+/([^/]+)", f)
    if m:
        return "stdlib " + m.group(1).removesuffix(".py")
    return "test module" if "/tests/" in f else "other"


def _cprofile(tests: Path, variant: str, n: int, tmp: Path) -> dict[str, Any]:
    """cProfile of tests 2..n of a session (the first test's one-time imports left out).

    Only each test's runtest protocol is profiled (setup, call, teardown,
    reports); collection is not.  cProfile inflates every Python call, so
    read these as proportions, not wall times.
    """
    env = probe_env(tmp, f"probe-prof-{variant}", BENCH_PROBE_PROFILE="1", BENCH_N=str(n))
    run(pytest_cmd(str(tests / _projects.VARIANT_FILES[variant])), tests.parents[2], env=env)
    doc = json.loads(next(tmp.glob(f"probe-prof-{variant}.*.json")).read_text())
    k = doc["profiled_tests"]
    st = pstats.Stats(str(next(tmp.glob(f"probe-prof-{variant}.*.prof")))).stats  # type: ignore[attr-defined]
    per_pkg: dict[str, float] = {}
    total = 0.0
    for key, (_cc, _nc, tt, _ct, _callers) in st.items():
        pkg = _package(key[0])
        per_pkg[pkg] = per_pkg.get(pkg, 0.0) + tt / k * 1000
        total += tt / k * 1000
    found: dict[str, Any] = {}
    for suffix, func, label in _PROFILE_FUNCS:
        best = None
        for key, (_cc, nc, _tt, ct, _callers) in st.items():
            filename, line, name = key
            where = filename.replace("\\", "/")
            # A suffix ending in "/" is a package: its fixtures may move between modules.
            in_file = where.endswith(suffix) or (suffix.endswith("/") and f"/{suffix}" in where)
            matches = name == func and in_file
            if matches and (best is None or ct > best[1]):
                best = (nc / k, ct / k * 1000, f"{suffix}:{line}")
        if best is not None:
            found[label] = {"ms_per_test": best[1], "calls_per_test": best[0], "where": best[2]}
    own = []
    for key, (_cc, nc, tt, ct, _callers) in st.items():
        f = key[0].replace("\\", "/")
        if "/nexus_testkit/" in f or "/pytest_nexus/" in f:
            own.append(
                {
                    "function": f"{f.split('/src/')[-1]}:{key[1]}({key[2]})",
                    "self_ms_per_test": tt / k * 1000,
                    "cum_ms_per_test": ct / k * 1000,
                    "calls_per_test": nc / k,
                }
            )
    own.sort(key=lambda d: -d["self_ms_per_test"])
    return {
        "profiled_tests": k,
        "total_self_ms_per_test": total,
        "self_ms_per_test_by_package": dict(sorted(per_pkg.items(), key=lambda kv: -kv[1])),
        "functions": found,
        "harness_self_time_top": own[:15],
    }


def _probe_session(tests: Path, variant: str, n: int, tmp: Path) -> dict[str, Any]:
    """One untimed session under the probe: phase durations, GC, peak RSS, objects left."""
    env = probe_env(tmp, f"probe-session-{variant}-{n}", BENCH_N=str(n))
    run(pytest_cmd(str(tests / _projects.VARIANT_FILES[variant])), tests.parents[2], env=env)
    doc: dict[str, Any] = json.loads(
        next(tmp.glob(f"probe-session-{variant}-{n}.*.json")).read_text()
    )
    return doc


def _durations(doc: dict[str, Any]) -> dict[str, Any]:
    by_phase: dict[str, list[float]] = {}
    for when, duration in doc["durations"]:
        by_phase.setdefault(when, []).append(duration * 1000)
    return {
        when: {"median_ms": statistics.median(v), "mean_ms": statistics.fmean(v)}
        for when, v in by_phase.items()
    }


def _retention(tests: Path, tmp: Path, sizes: tuple[int, int]) -> dict[str, Any]:
    """Per-test GC time and peak memory, differential over two session sizes."""
    small, big = sizes
    found: dict[str, Any] = {}
    for variant in ("nexus_client", "floor_chain", "floor"):
        a = _probe_session(tests, variant, small, tmp)
        b = _probe_session(tests, variant, big, tmp)
        k = big - small
        found[variant] = {
            "durations_ms": _durations(b),
            "gc_ms_per_test": (b["gc"]["seconds"] - a["gc"]["seconds"]) / k * 1000,
            "gc_gen2_ms_per_test": (b["gc"]["gen2_seconds"] - a["gc"]["gen2_seconds"]) / k * 1000,
            "gc_total_ms": {
                str(small): a["gc"]["seconds"] * 1000,
                str(big): b["gc"]["seconds"] * 1000,
            },
            "maxrss_kb_per_test": (b["maxrss_kb"] - a["maxrss_kb"]) / k,
            "objects_per_test": (b["alive_at_end"]["objects"] - a["alive_at_end"]["objects"]) / k,
            "alive_at_end": b["alive_at_end"],
            "tests": big,
        }
    return {"sizes": [small, big], "variants": found}


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = plugin_dir(tmp)
    tests = plugin / "tests"
    phases = work(
        "phases",
        "--plugin",
        str(plugin),
        "--floor-source",
        str(tests / "test_floor.py"),
        "--iterations",
        str(s.phase_iterations),
        "--drift-blocks",
        str(s.drift_blocks),
    )
    n = s.profile_tests
    retention = _retention(tests, tmp, s.retention_sizes)
    durations = {v: d["durations_ms"] for v, d in retention["variants"].items()}
    prof = {v: _cprofile(tests, v, n, tmp) for v in ("nexus_client", "floor_chain", "floor")}
    rewrite = work("rewrite", "--plugin", str(plugin))
    ret = retention["variants"]
    nx, ch = ret["nexus_client"], ret["floor_chain"]
    alive = nx["alive_at_end"]
    rows = [
        row(
            "P",
            f"retained per nexus_client test (peak RSS, {retention['sizes'][1]} vs "
            f"{retention['sizes'][0]} tests)",
            f"{nx['maxrss_kb_per_test']:.1f} KB",
            f"{ch['maxrss_kb_per_test']:.1f} KB floor_chain",
            None,
            "(report)",
            None,
            f"{alive.get('PluginHost', 0)} PluginHost, {alive.get('FastAPI', 0)} FastAPI alive "
            f"after {nx['tests']} tests",
        ),
        row(
            "P",
            "garbage collection per nexus_client test",
            f"{nx['gc_ms_per_test']:.3f} ms",
            f"{ch['gc_ms_per_test']:.3f} ms floor_chain",
            nx["gc_ms_per_test"] / ch["gc_ms_per_test"] if ch["gc_ms_per_test"] > 0 else None,
            "(report)",
            None,
            f"full collections {nx['gc_gen2_ms_per_test']:.3f} ms/test",
        ),
    ]
    return {
        "rows": rows,
        "retention": retention,
        "in_process_phases": phases,
        "pytest_phase_durations_ms": durations,
        "cprofile": prof,
        "assertion_rewrite": rewrite,
    }
