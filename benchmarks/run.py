"""Performance benchmarks of pytest-nexus: every goal against its floor or peer, in one run.

    python benchmarks/run.py            # full run, about 5-10 minutes on 2 cores
    python benchmarks/run.py --quick    # short run, under 2 minutes, fewer repetitions
    python benchmarks/run.py --json PATH   # default benchmarks/results/latest.json
    python benchmarks/run.py --only 1,3    # some goals only (1-7, and "profile")

Run it with the Python of the environment that has pytest-nexus installed
(the ``[test]`` extra: nexus-platform, pytest-xdist).  Each figure is measured
against its floor or peer in the same run, variants interleaved (A B A B ...,
the first of each pair alternating) so that drift of the machine cancels;
figures are medians of the repetitions and the spread is given as the
inter-quartile range (IQR) relative to the median.  pytest sessions run as
subprocesses in throw-away projects under a temporary directory, with
PYTHONDONTWRITEBYTECODE=1 as users run them.

See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import _projects  # noqa: E402

PY = sys.executable
EXAMPLE = REPO / "examples" / "plugins" / "my_awesome_plugin"
HEAVY = ("fastapi", "httpx", "hypothesis", "faker", "jsonschema", "nexus", "pydantic")
perf = time.perf_counter


# ---------------------------------------------------------------------------- settings


class Settings:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.unused_pairs = 5 if quick else 15
        self.import_reps = 3 if quick else 7
        self.per_test_sizes = (50, 300) if quick else (100, 1000)
        self.per_test_reps = 2 if quick else 5
        self.requests_total = 600 if quick else 2000
        self.contract_warm_reps = 3 if quick else 10
        self.contract_cold_reps = 2 if quick else 5
        self.contract_ten_reps = 1 if quick else 3
        self.fakes_rounds = 2 if quick else 6
        self.scale_tests = 300 if quick else 1000
        self.scale_pairs = 1 if quick else 3
        self.phase_iterations = 100 if quick else 400
        self.profile_tests = 150 if quick else 400
        self.retention_sizes = (50, 300) if quick else (100, 1000)
        self.strategy_examples = 200 if quick else 1000
        self.drift_blocks = 1 if quick else 4


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("PYTEST_", "BENCH_", "NEXUS_")):
            del env[name]
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # how users run; also keeps the venv untouched
    env.update(extra)
    return env


def run(
    cmd: list[str], cwd: Path, *, env: dict[str, str] | None = None, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = perf()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or bench_env(), capture_output=True, text=True, check=False
    )
    elapsed = perf() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds (user + sys) of the subprocess and the children it waited for
    # (xdist workers): what a busy machine inflates far less than wall time.
    proc.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # type: ignore[attr-defined]
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return elapsed, proc


def work(workload: str, *args: str) -> dict[str, Any]:
    _, proc = run([PY, str(HERE / "_work.py"), workload, *args], REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pytest_cmd(*args: str) -> list[str]:
    return [PY, "-m", "pytest", "-q", *args]


# ---------------------------------------------------------------------------- statistics


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if len(ordered) >= 2:
        q = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q = [ordered[0]] * 3
    return {
        "median": statistics.median(ordered),
        "p25": q[0],
        "p75": q[2],
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
        "values": values,
    }


def iqr_text(s: dict[str, Any]) -> str:
    if s["n"] < 2 or not s["median"]:
        return f"n={s['n']}"
    return f"IQR {100 * (s['p75'] - s['p25']) / abs(s['median']):.1f}% n={s['n']}"


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each variant once per round; the order reverses every other round."""
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(variants[name]())
    return out


def ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s"


def row(
    goal: str,
    name: str,
    figure: str,
    peer: str = "",
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
    spread_text: str = "",
    **data: Any,
) -> dict[str, Any]:
    return {
        "goal": goal,
        "name": name,
        "figure": figure,
        "peer": peer,
        "ratio": ratio,
        "target": target,
        "met": met,
        "spread": spread_text,
        **data,
    }


# ---------------------------------------------------------------------------- goal 1


def _importtime(code: str) -> dict[str, int]:
    """Cumulative microseconds per module name from ``python -X importtime -c code``."""
    _, proc = run([PY, "-X", "importtime", "-c", code], REPO)
    found: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            found[m.group(4)] = int(m.group(2))
    return found


def goal_unused(s: Settings, tmp: Path) -> dict[str, Any]:
    project = tmp / "unused"
    _projects.write_unused_project(project)
    deps = ("hypothesispytest", "anyio")
    variants_args = {
        "loaded": [],
        "no_nexus": ["-p", "no:nexus"],
        # Not the goal, a note: the pytest plugins that come with pytest-nexus's
        # dependencies (hypothesis; anyio through FastAPI/httpx) load too.
        "no_nexus_no_deps": ["-p", "no:nexus"] + [a for d in deps for a in ("-p", f"no:{d}")],
    }

    cpu: dict[str, list[float]] = {k: [] for k in variants_args}

    def variant(name: str, args: list[str]) -> Callable[[], float]:
        def go() -> float:
            elapsed, proc = run(pytest_cmd(*args), project)
            if "20 passed" not in proc.stdout:
                raise RuntimeError(proc.stdout[-2000:])
            cpu[name].append(proc.cpu)  # type: ignore[attr-defined]
            return elapsed

        return go

    run(pytest_cmd(), project)  # warm the file system cache
    times = interleaved({k: variant(k, v) for k, v in variants_args.items()}, s.unused_pairs)
    cpu_paired = ratios(cpu["loaded"], cpu["no_nexus"])
    paired = ratios(times["loaded"], times["no_nexus"])
    deps_paired = ratios(times["loaded"], times["no_nexus_no_deps"])

    # Import cost of the entry-point module, alone and with pytest already imported.
    alone = [_importtime("import pytest_nexus.plugin") for _ in range(s.import_reps)]
    own = [
        _importtime("import pytest, pytest_asyncio; import pytest_nexus.plugin")
        for _ in range(s.import_reps)
    ]
    alone_us = spread([float(d.get("pytest_nexus.plugin", 0)) for d in alone])
    own_us = spread([float(d.get("pytest_nexus.plugin", 0)) for d in own])
    _, proc = run(
        [
            PY,
            "-c",
            "import sys, json, pytest_nexus.plugin; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        REPO,
    )
    top = set(json.loads(proc.stdout))
    heavy = sorted(top & set(HEAVY))
    heavy_note = sorted(top & {"nexus_testkit", "starlette", "asgi_lifespan", "sqlalchemy"})

    # In a real run: which heavy modules does loading the plugin add?
    probe = tmp / "probe"
    _projects.write_probe(probe)
    added: dict[str, list[str]] = {}
    for label, args in (("loaded", []), ("no_nexus", ["-p", "no:nexus"])):
        out = tmp / f"probe-unused-{label}"
        env = bench_env(
            PYTEST_PLUGINS="benchprobe", PYTHONPATH=str(probe), BENCH_PROBE_OUT=str(out)
        )
        run(pytest_cmd(*args), project, env=env)
        docs = [json.loads(p.read_text()) for p in tmp.glob(f"probe-unused-{label}.*.json")]
        added[label] = docs[0]["heavy_modules"] if docs else []
    plugin_adds = sorted(set(added["loaded"]) - set(added["no_nexus"]))

    med_loaded = statistics.median(times["loaded"])
    med_no = statistics.median(times["no_nexus"])
    med_none = statistics.median(times["no_nexus_no_deps"])
    r = statistics.median(paired)
    rows = [
        row(
            "1",
            "unused: 20 trivial tests, plugin loaded vs -p no:nexus",
            fmt_s(med_loaded),
            fmt_s(med_no),
            r,
            "<= 1.05",
            r <= 1.05,
            "ratio "
            + iqr_text(spread(paired))
            + f"; cpu ratio {statistics.median(cpu_paired):.2f}",
        ),
        row(
            "1",
            "import pytest_nexus.plugin (-X importtime, cumulative)",
            f"{own_us['median'] / 1000:.1f} ms own",
            f"{alone_us['median'] / 1000:.1f} ms incl. pytest",
            None,
            "no heavy module",
            not heavy and not plugin_adds,
            "heavy: " + (", ".join(heavy + plugin_adds) or "none"),
        ),
        row(
            "1",
            "note: + plugins of its deps (hypothesis, anyio) vs none",
            fmt_s(med_loaded),
            fmt_s(med_none),
            statistics.median(deps_paired),
            "(report)",
            None,
            "ratio " + iqr_text(spread(deps_paired)),
        ),
    ]
    return {
        "rows": rows,
        "times_s": {k: spread(v) for k, v in times.items()},
        "cpu_s": {k: spread(v) for k, v in cpu.items()},
        "ratio_loaded_over_no_nexus": spread(paired),
        "cpu_ratio_loaded_over_no_nexus": spread(cpu_paired),
        "ratio_loaded_over_no_deps": spread(deps_paired),
        "importtime_us": {"with_pytest_imported_first": own_us, "alone": alone_us},
        "heavy_modules_imported_by_plugin": heavy,
        "other_modules_imported_by_plugin": heavy_note,
        "heavy_modules_in_pytest_run": added,
        "heavy_modules_added_by_plugin_in_pytest_run": plugin_adds,
    }


# ---------------------------------------------------------------------------- goal 2


def _session(tests: Path, variant: str, n: int, *extra: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one pytest session of ``n`` tests of ``variant``."""
    file = tests / _projects.VARIANT_FILES[variant]
    elapsed, proc = run(
        pytest_cmd(str(file), *extra), tests.parents[2], env=bench_env(BENCH_N=str(n))
    )
    if f"{n} passed" not in proc.stdout:
        raise RuntimeError(f"{variant} N={n}: {proc.stdout[-2000:]}")
    return elapsed, proc.cpu  # type: ignore[attr-defined]


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("E "):
            return line[1:].strip()
    return output.strip().splitlines()[-1] if output.strip() else "failed"


def goal_per_test(s: Settings, tmp: Path) -> dict[str, Any]:
    project = tmp / "plugin-project"
    tests = _projects.write_plugin_project(project)
    small, big = s.per_test_sizes
    variants = ["nexus_client", "floor", "floor_fixture", "floor_chain", "testclient"]
    broken: dict[str, str] = {}
    for v in variants:  # probe each once (and warm the caches)
        file = tests / _projects.VARIANT_FILES[v]
        _, proc = run(pytest_cmd(str(file)), project, env=bench_env(BENCH_N="1"), check=False)
        if proc.returncode != 0:
            broken[v] = _first_error(proc.stdout + proc.stderr)
    live = [v for v in variants if v not in broken]
    if "nexus_client" in broken or "floor" in broken:
        raise RuntimeError(f"per-test variants failed: {broken}")
    # Differentials per repetition: (T(big) - T(small)) / (big - small), so that
    # start-up, imports and collection of the session cancel out.
    wall: dict[str, list[float]] = {v: [] for v in live}
    cpu: dict[str, list[float]] = {v: [] for v in live}
    raw: dict[str, dict[str, list[list[float]]]] = {v: {str(small): [], str(big): []} for v in live}
    for rep in range(s.per_test_reps):
        order = live if rep % 2 == 0 else live[::-1]
        for v in order:
            sizes = (small, big) if rep % 2 == 0 else (big, small)
            t = {n: _session(tests, v, n) for n in sizes}
            for n in sizes:
                raw[v][str(n)].append(list(t[n]))
            wall[v].append((t[big][0] - t[small][0]) / (big - small))
            cpu[v].append((t[big][1] - t[small][1]) / (big - small))
    per_cpu = {v: spread(d) for v, d in cpu.items()}
    per_wall = {v: spread(d) for v, d in wall.items()}
    r_cpu = spread(ratios(cpu["nexus_client"], cpu["floor"]))
    r_wall = spread(ratios(wall["nexus_client"], wall["floor"]))

    def ratio_row(name: str, v: str, target: str, met: bool | None) -> dict[str, Any]:
        rc = spread(ratios(cpu[v], cpu["floor"]))
        rw = spread(ratios(wall[v], wall["floor"]))
        return row(
            "2",
            name,
            fmt_s(per_cpu[v]["median"]),
            fmt_s(per_cpu["floor"]["median"]) + " floor",
            rc["median"],
            target,
            met,
            f"ratio {iqr_text(rc)}; wall ratio {rw['median']:.2f}",
        )

    rows = [
        ratio_row(
            f"per test: nexus_client GET (CPU, differential {big}-{small} tests)",
            "nexus_client",
            "<= 1.2",
            r_cpu["median"] <= 1.2,
        )
    ]
    if "floor_fixture" in live:
        rows.append(
            ratio_row("  note: the floor as an async fixture", "floor_fixture", "(report)", None)
        )
    if "floor_chain" in live:
        rows.append(
            ratio_row(
                "  note: that fixture behind 8 trivial fixtures (a fixture graph's cost)",
                "floor_chain",
                "(report)",
                None,
            )
        )
    if "testclient" in broken:
        rows.append(
            row(
                "2",
                "  peer: FastAPI TestClient variant",
                "broken",
                "",
                None,
                "(report)",
                None,
                broken["testclient"][:70],
            )
        )
    elif "testclient" in live:
        rows.append(ratio_row("  peer: FastAPI TestClient variant", "testclient", "(report)", None))
    return {
        "rows": rows,
        "sizes": [small, big],
        "per_test_cpu_s": per_cpu,
        "per_test_wall_s": per_wall,
        "ratio_nexus_over_floor_cpu": r_cpu,
        "ratio_nexus_over_floor_wall": r_wall,
        "sessions_wall_cpu_s": raw,
        "broken": broken,
    }


# ---------------------------------------------------------------------------- goal 3


def goal_requests(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = _plugin_dir(tmp)
    data = work("requests", "--plugin", str(plugin), "--total", str(s.requests_total))
    r = data["ratio"]
    rows = [
        row(
            "3",
            f"per request: nexus_client vs raw ASGITransport ({data['requests_per_variant']} GETs)",
            fmt_s(data["nexus_client_s"]["median"]),
            fmt_s(data["raw_s"]["median"]),
            r["median"],
            "<= 1.1",
            r["median"] <= 1.1,
            "ratio " + iqr_text(r),
        )
    ]
    return {"rows": rows, **data}


def _plugin_dir(tmp: Path) -> Path:
    project = tmp / "plugin-project"
    if not project.exists():
        _projects.write_plugin_project(project)
    return project / "plugins" / _projects.PLUGIN_NAME


# ---------------------------------------------------------------------------- goal 4


def goal_contract(s: Settings, tmp: Path) -> dict[str, Any]:
    warm = work("contract", "--plugin", str(EXAMPLE), "--reps", str(s.contract_warm_reps))
    check = [PY, "-m", "nexus_testkit", "check"]
    cold = []
    for _ in range(s.contract_cold_reps):
        elapsed, _ = run([*check, str(EXAMPLE)], REPO)
        cold.append(elapsed)
    cold_s = spread(cold)

    ten = tmp / "ten"
    dirs = []
    for i in range(10):
        target = ten / f"bench_awesome_{i}"
        _projects.copy_renamed_plugin(EXAMPLE, target, "my_awesome_plugin", f"bench_awesome_{i}")
        dirs.append(str(target))

    def one_call() -> float:
        elapsed, proc = run([*check, *dirs], ten)
        if proc.stdout.count("0 failed") != 10:
            raise RuntimeError(proc.stdout[-2000:])
        return elapsed

    def separate() -> float:
        total = 0.0
        for d in dirs:
            elapsed, _ = run([*check, d], ten)
            total += elapsed
        return total

    times = interleaved({"one_call": one_call, "ten_calls": separate}, max(1, s.contract_ten_reps))
    r = spread(ratios(times["one_call"], times["ten_calls"]))
    w = warm["warm_s"]
    rows = [
        row(
            "4",
            "contract: run_contract(my_awesome_plugin) in-process, warm",
            fmt_s(w["median"]),
            f"first run {fmt_s(warm['first_run_s'])}",
            None,
            "<= 1 s",
            w["median"] <= 1.0,
            iqr_text(w),
        ),
        row(
            "4",
            "contract: python -m nexus_testkit check, cold subprocess",
            fmt_s(cold_s["median"]),
            "",
            None,
            "<= 1 s",
            cold_s["median"] <= 1.0,
            iqr_text(cold_s),
        ),
        row(
            "4",
            "contract: 10 plugins in one call vs 10 calls",
            fmt_s(statistics.median(times["one_call"])),
            fmt_s(statistics.median(times["ten_calls"])),
            r["median"],
            "<= 0.5",
            r["median"] <= 0.5,
            "ratio " + iqr_text(r),
        ),
    ]
    return {
        "rows": rows,
        "warm": warm,
        "cold_s": cold_s,
        "ten_plugins_s": {k: spread(v) for k, v in times.items()},
        "ratio_one_over_ten": r,
    }


# ---------------------------------------------------------------------------- goal 5


def goal_fakes(s: Settings, tmp: Path) -> dict[str, Any]:
    data = work("fakes", "--rounds", str(s.fakes_rounds))
    rates = data["bus_events_per_s"]
    rec, host, plat = (
        rates[k]["median"] for k in ("recording", "recording_host_timeout", "platform")
    )
    r = data["bus_ratio_recording_over_platform"]
    rh = data["bus_ratio_host_over_platform"]
    st = data["store_s_per_op"]
    rm = data["store_ratio_memory_over_plain"]
    rs = data["store_ratio_sql_over_memory"]
    rows = [
        row(
            "5",
            "RecordingEventBus inline -> 3 handlers vs nexus EventBus e2e",
            fmt_rate(rec),
            fmt_rate(plat),
            r["median"],
            ">= 1,000,000/s, >= 25x",
            rec >= 1_000_000 and r["median"] >= 25,
            "ratio " + iqr_text(r),
        ),
        row(
            "5",
            "  same, as nexus_host configures it (handler_timeout=5 s)",
            fmt_rate(host),
            fmt_rate(plat),
            rh["median"],
            ">= 1,000,000/s, >= 25x",
            host >= 1_000_000 and rh["median"] >= 25,
            "ratio " + iqr_text(rh),
        ),
        row(
            "5",
            "RecordingDataStore memory set+get vs plain dict adapter (time/op)",
            fmt_s(st["recording_memory"]["median"])
            + f" ({fmt_rate(1 / st['recording_memory']['median'])})",
            fmt_s(st["plain_dict"]["median"]),
            rm["median"],
            "<= 1.5",
            rm["median"] <= 1.5,
            "ratio " + iqr_text(rm),
        ),
        row(
            "5",
            "RecordingDataStore sql vs memory fidelity (time/op)",
            fmt_s(st["recording_sql"]["median"]),
            fmt_s(st["recording_memory"]["median"]),
            rs["median"],
            "(report)",
            None,
            "ratio " + iqr_text(rs),
        ),
    ]
    return {"rows": rows, **data}


# ---------------------------------------------------------------------------- goal 6


def goal_strategies(s: Settings, tmp: Path) -> dict[str, Any]:
    """Runs benchmarks/bench_strategies.py (another author's) and reads what it writes."""
    script = HERE / "bench_strategies.py"
    target = "<= 1 ms, >= 4x faster than h-jsonschema"
    if not script.exists():
        return {
            "rows": [
                row(
                    "6",
                    "strategies: configs() per example, 10-key manifest",
                    "not measured",
                    "",
                    None,
                    target,
                    None,
                    "benchmarks/bench_strategies.py absent",
                )
            ],
            "measured": False,
        }
    results = HERE / "results" / "strategies.json"
    cmd = [PY, str(script), "--examples", str(s.strategy_examples)]
    if s.quick:
        cmd.append("--no-compare")  # no virtualenv / pip in a quick run
    elapsed, proc = run(cmd, REPO, check=False)
    document = json.loads(results.read_text()) if results.exists() else None
    by_name = {r.get("name", ""): r for r in (document or {}).get("results", [])}
    ours = by_name.get("configs(manifest)")
    invalid = by_name.get("invalid_configs(manifest)")
    peers = [r for n, r in by_name.items() if n.startswith("hypothesis_jsonschema")]
    # hypothesis-jsonschema may be broken on the installed Hypothesis: then the
    # peer is its run on the pinned Hypothesis it still works with, and says so.
    working = [r for r in peers if "error" not in r]
    peer = working[0] if working else (peers[0] if peers else None)
    broken_here = next((r for r in peers if "error" in r), None)
    rows = []
    if proc.returncode != 0 or ours is None:
        rows.append(
            row(
                "6",
                "strategies: bench_strategies.py",
                f"exit {proc.returncode}",
                "",
                None,
                target,
                False,
                (proc.stderr or proc.stdout).strip()[-70:],
            )
        )
    else:
        per = ours["per_example_ms"]
        if peer is None:
            peer_text, speedup, note = "not compared (--quick)", None, ""
        elif "error" in peer:
            peer_text, speedup = "h-jsonschema broken", None
            note = peer["error"].splitlines()[0][:70]
        else:
            speedup = peer["per_example_ms"] / per
            peer_text, note = f"{peer['per_example_ms']:.3f} ms h-jsonschema", ""
            if broken_here is not None:
                note = (
                    f"peer on hypothesis {peer.get('hypothesis')}; broken on "
                    f"{broken_here.get('hypothesis')}; ratio = speed-up"
                )
        met = per <= 1.0 and (speedup is None or speedup >= 4)
        rows.append(
            row(
                "6",
                f"strategies: configs() per example, 10-key manifest ({ours['examples']} ex.)",
                f"{per:.3f} ms",
                peer_text,
                speedup,
                target,
                met if (speedup is not None or per > 1.0) else None,
                note or f"build {ours['build_ms']:.2f} ms; ratio = speed-up",
            )
        )
        if invalid is not None:
            rows.append(
                row(
                    "6",
                    "  invalid_configs() per example",
                    f"{invalid['per_example_ms']:.3f} ms",
                    "",
                    None,
                    "(report)",
                    None,
                    f"build {invalid['build_ms']:.2f} ms",
                )
            )
    return {
        "rows": rows,
        "measured": True,
        "seconds": elapsed,
        "command": cmd,
        "returncode": proc.returncode,
        "document": document,
        "stdout_tail": proc.stdout[-3000:],
    }


# ---------------------------------------------------------------------------- goal 7


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] == ".pytest_cache":
            continue
        st = path.stat()
        found[str(rel)] = (st.st_size, st.st_mtime_ns) if path.is_file() else (0, 0)
    return found


def goal_scale(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = _plugin_dir(tmp)
    project = plugin.parents[1]
    tests = plugin / "tests"
    n = s.scale_tests
    changes: list[str] = []
    cpu: dict[str, list[float]] = {"serial": [], "n2": []}

    def session(name: str, *extra: str) -> Callable[[], float]:
        def go() -> float:
            before = _snapshot(project)
            elapsed, used = _session(tests, "nexus_client", n, *extra)
            after = _snapshot(project)
            changes.extend(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            cpu[name].append(used)
            return elapsed

        return go

    loads = [_load()]
    times = interleaved(
        {"serial": session("serial"), "n2": session("n2", "-n", "2")}, s.scale_pairs
    )
    loads.append(_load())
    r = spread(ratios(times["n2"], times["serial"]))

    # One more -n 2 run, not timed, under an audit hook in every process.
    probe = tmp / "probe"
    _projects.write_probe(probe)
    out = tmp / "probe-scale"
    env = bench_env(
        PYTEST_PLUGINS="benchprobe",
        PYTHONPATH=str(probe),
        BENCH_PROBE_OUT=str(out),
        BENCH_PROBE_AUDIT="1",
        BENCH_PROBE_PROJECT=str(project),
        BENCH_N=str(n),
    )
    run(pytest_cmd(str(tests / "test_nexus.py"), "-n", "2"), project, env=env)
    docs = [json.loads(p.read_text()) for p in tmp.glob("probe-scale.*.json")]
    workers = {d["worker"]: sum(1 for w, _ in d["durations"] if w == "call") for d in docs}
    sockets = [e for d in docs for e in d["sockets"]]
    writes = [w for d in docs for w in d["writes"]]
    isolated = not sockets and not writes and not changes
    serial = statistics.median(times["serial"])
    par = statistics.median(times["n2"])
    rows = [
        row(
            "7",
            f"scale: {n} nexus_client tests, -n 2 vs serial",
            fmt_s(par),
            fmt_s(serial),
            r["median"],
            "< 1 (-n 2 faster)",
            r["median"] < 1,
            "ratio " + iqr_text(r) + f"; cpu {statistics.median(cpu['n2']):.1f} s vs "
            f"{statistics.median(cpu['serial']):.1f} s",
        ),
        row(
            "7",
            "  isolation under -n 2: sockets, files written in project",
            f"{len(sockets)} sockets, {len(writes) + len(changes)} files",
            "tests per worker: "
            + ", ".join(f"{k}={v}" for k, v in sorted(workers.items()) if k != "main"),
            None,
            "none shared",
            isolated,
            "",
        ),
    ]
    return {
        "rows": rows,
        "tests": n,
        "times_s": {k: spread(v) for k, v in times.items()},
        "cpu_s": {k: spread(v) for k, v in cpu.items()},
        "loadavg_before_after": loads,
        "ratio_n2_over_serial": r,
        "audit": {
            "tests_per_process": workers,
            "sockets": sockets,
            "writes_in_project": writes,
            "project_changes_outside_pytest_cache": sorted(set(changes)),
        },
    }


# ---------------------------------------------------------------------------- profile


_PROFILE_FUNCS = (
    ("_pytest/runner.py", "pytest_runtest_setup", "pytest setup phase (all fixtures)"),
    ("_pytest/runner.py", "pytest_runtest_call", "pytest call phase (the test)"),
    ("_pytest/runner.py", "pytest_runtest_teardown", "pytest teardown phase"),
    ("pytest_nexus/plugin.py", "nexus_host", "nexus_host fixture body"),
    ("pytest_nexus/plugin.py", "nexus_manifest", "nexus_manifest fixture (load_manifest)"),
    ("pytest_nexus/plugin.py", "nexus_plugin_path", "nexus_plugin_path fixture"),
    ("pytest_nexus/plugin.py", "_host_options", "_host_options (4 calls)"),
    ("pytest_nexus/plugin.py", "pytest_runtest_makereport", "pytest_runtest_makereport wrapper"),
    ("nexus_testkit/_host.py", "start", "PluginHost.start"),
    ("nexus_testkit/_host.py", "_start_instance", "  _start_instance"),
    ("nexus_testkit/_loader.py", "import_plugin", "    import_plugin"),
    ("nexus_testkit/_host.py", "_mount", "  _mount"),
    ("fastapi/applications.py", "__init__", "    FastAPI()"),
    ("fastapi/applications.py", "include_router", "    include_router"),
    ("asgi_lifespan/_manager.py", "__aenter__", "    LifespanManager.__aenter__"),
    ("httpx/_client.py", "get", "GET through httpx"),
    ("nexus_testkit/_host.py", "aclose", "PluginHost.aclose"),
    ("nexus_testkit/_host.py", "_stop_instance", "  _stop_instance"),
    ("nexus_testkit/_loader.py", "unload", "  LoadedPlugin.unload"),
    ("nexus_testkit/_host.py", "_detach_logs", "  _detach_logs"),
    ("nexus_testkit/_host.py", "_attach_logs", "_attach_logs"),
    ("nexus_testkit/_tasks.py", "_creation_site", "TaskTracker._creation_site"),
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
    probe = tmp / "probe"
    _projects.write_probe(probe)
    out = tmp / f"probe-prof-{variant}"
    env = bench_env(
        PYTEST_PLUGINS="benchprobe",
        PYTHONPATH=str(probe),
        BENCH_PROBE_OUT=str(out),
        BENCH_PROBE_PROFILE="1",
        BENCH_N=str(n),
    )
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
            matches = name == func and filename.replace("\\", "/").endswith(suffix)
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
    probe = tmp / "probe"
    _projects.write_probe(probe)
    out = tmp / f"probe-session-{variant}-{n}"
    env = bench_env(
        PYTEST_PLUGINS="benchprobe", PYTHONPATH=str(probe), BENCH_PROBE_OUT=str(out), BENCH_N=str(n)
    )
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


def profile(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = _plugin_dir(tmp)
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


# ---------------------------------------------------------------------------- report


COLUMNS = (
    ("goal", "goal", 4),
    ("name", "what", 62),
    ("figure", "figure", 22),
    ("peer", "floor / peer", 24),
    ("ratio", "ratio", 7),
    ("target", "target", 22),
    ("met", "met", 5),
    ("spread", "spread", 26),
)


def _cell(r: dict[str, Any], key: str) -> str:
    value = r.get(key)
    if key == "ratio":
        return "" if value is None else f"{value:.2f}"
    if key == "met":
        return {True: "yes", False: "NO", None: "-"}[value]
    return str(value if value is not None else "")


def text_table(rows: list[dict[str, Any]]) -> str:
    widths = [max(w, max((len(_cell(r, k)) for r in rows), default=0)) for k, _, w in COLUMNS]
    widths = [max(w, len(h)) for w, (_, h, _) in zip(widths, COLUMNS, strict=True)]
    lines = ["  ".join(h.ljust(w) for (_, h, _), w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(_cell(r, k).ljust(w) for (k, _, _), w in zip(COLUMNS, widths, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(_cell(r, k).replace("|", "/").strip() for k, _, _ in COLUMNS) + " |"
        for r in rows
    ]
    return "\n".join([head, sep, *body])


def profile_text(p: dict[str, Any]) -> str:
    lines = ["", "Where a nexus_client test's time goes"]
    ph = p.get("in_process_phases")
    if ph:
        lines.append(
            f"  in-process cycle (fixture steps + host + GET + close): "
            f"{ph['host_cycle_ms']['median']:.3f} ms; hand-written floor "
            f"{ph['floor_cycle_ms']['median']:.3f} ms; a fresh event loop "
            f"{ph['fresh_event_loop_ms']['median']:.3f} ms"
        )
        for label, d in ph["phases_ms_per_test"].items():
            lines.append(f"    {label:<52} {d['ms']:8.3f} ms  x{d['calls_per_test']:.0f}")
        drift = ph.get("drift")
        if drift:
            lines.append(
                "  drift over a long session (loggers leaked by the host, ms per host cycle):"
            )
            for b in drift:
                logs = "" if b["logs_ms"] is None else f", attach+detach logs {b['logs_ms']:.3f} ms"
                lines.append(
                    f"    after {b['hosts_before']:>5} hosts ({b['loggers']} loggers): "
                    f"{b['cycle_ms']:.3f} ms/cycle{logs}"
                )
    dur = p.get("pytest_phase_durations_ms")
    if dur:
        lines.append("  pytest phases, median ms per test (unprofiled):")
        for variant, d in dur.items():
            parts = ", ".join(f"{w} {v['median_ms']:.2f}" for w, v in d.items())
            lines.append(f"    {variant:<14} {parts}")
    cp = p.get("cprofile")
    if cp:
        variants = list(cp)
        lines.append(
            f"  cProfile of tests 2..{cp[variants[0]]['profiled_tests'] + 1} (runtest protocol "
            "only), self time per test by package, ms (profiler-inflated; read as proportions):"
        )
        first = cp[variants[0]]["self_ms_per_test_by_package"]
        pkgs = sorted(
            {p for v in variants for p in cp[v]["self_ms_per_test_by_package"]},
            key=lambda k: -first.get(k, 0.0),
        )
        lines.append(f"    {'package':<24}" + "".join(f"{v:>14}" for v in variants))
        for pkg in pkgs:
            vals = [cp[v]["self_ms_per_test_by_package"].get(pkg, 0.0) for v in variants]
            if max(vals) >= 0.03:
                lines.append(f"    {pkg:<24}" + "".join(f"{x:14.3f}" for x in vals))
        lines.append(
            f"    {'total':<24}"
            + "".join(f"{cp[v]['total_self_ms_per_test']:14.3f}" for v in variants)
        )
        lines.append(
            "  the same profile, inclusive ms per nexus_client test of selected functions:"
        )
        for label, d in cp[variants[0]]["functions"].items():
            lines.append(f"    {label:<44} {d['ms_per_test']:8.3f} ms  x{d['calls_per_test']:.1f}")
    ret = p.get("retention")
    if ret:
        small, big = ret["sizes"]
        lines.append(f"  what a session keeps ({big} vs {small} tests, per test):")
        for variant, d in ret["variants"].items():
            alive = d["alive_at_end"]
            lines.append(
                f"    {variant:<14} peak RSS {d['maxrss_kb_per_test']:6.1f} KB, objects "
                f"{d['objects_per_test']:6.0f}, GC {d['gc_ms_per_test']:.3f} ms "
                f"(full collections {d['gc_gen2_ms_per_test']:.3f} ms); alive at the end: "
                f"{alive.get('PluginHost', 0)} PluginHost, {alive.get('FastAPI', 0)} FastAPI"
            )
    rw = p.get("assertion_rewrite")
    if rw:
        lines.append(
            f"  pytest assertion-rewrites the {rw['modules']} nexus_testkit/pytest_nexus modules a "
            f"host imports, every session (no pyc cache under PYTHONDONTWRITEBYTECODE): "
            f"{rw['rewrite_ms']:.1f} ms vs plain compile {rw['compile_ms']:.1f} ms"
        )
    return "\n".join(lines)


GOALS: dict[str, Callable[[Settings, Path], dict[str, Any]]] = {
    "1": goal_unused,
    "2": goal_per_test,
    "3": goal_requests,
    "4": goal_contract,
    "5": goal_fakes,
    "6": goal_strategies,
    "7": goal_scale,
    "profile": profile,
}


def _load() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    parser.add_argument(
        "--json",
        default=str(HERE / "results" / "latest.json"),
        metavar="PATH",
        help="where to write the results (default benchmarks/results/latest.json)",
    )
    parser.add_argument("--only", default="", help="comma-separated goals: 1-7, profile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args(argv)
    s = Settings(args.quick)
    wanted = [g.strip() for g in args.only.split(",") if g.strip()] or list(GOALS)
    unknown = [g for g in wanted if g not in GOALS]
    if unknown:
        parser.error(f"unknown goal(s) {unknown}; valid: {', '.join(GOALS)}")

    started = perf()
    load_before = _load()
    if load_before and load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"note: load average {load_before[0]:.2f} on {os.cpu_count()} CPUs: other work is "
            "running, wall-clock figures will be noisier (CPU-time figures less so)",
            file=sys.stderr,
        )
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    try:
        for goal in wanted:
            t = perf()
            print(f"[{time.strftime('%H:%M:%S')}] goal {goal} ...", file=sys.stderr, flush=True)
            try:
                result = GOALS[goal](s, tmp)
            except Exception as exc:
                result = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "rows": [
                        row(goal, f"goal {goal}", "ERROR", "", None, "", False, str(exc)[:60])
                    ],
                }
                print(result["traceback"], file=sys.stderr)
            result["seconds"] = perf() - t
            rows.extend(result.get("rows", []))
            results[goal] = result
            print(
                f"[{time.strftime('%H:%M:%S')}] goal {goal} done in {result['seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if args.keep:
            print(f"temporary projects kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = perf() - started
    table = text_table(rows)
    print()
    print(table)
    if "profile" in results and "error" not in results["profile"]:
        print(profile_text(results["profile"]))
    print(f"\n{'quick' if s.quick else 'full'} run, {total:.0f} s; results in {args.json}")
    document = {
        "mode": "quick" if s.quick else "full",
        "seconds": total,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": sys.version,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": _load(),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        },
        "rows": rows,
        "table_text": table,
        "table_markdown": markdown_table(rows),
        "goals": results,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
