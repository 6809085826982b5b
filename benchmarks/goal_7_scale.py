"""Goal 7: a large suite under ``-n 2`` against serial, and an audit of what the processes share."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    Settings,
    fmt_s,
    load_average,
    plugin_dir,
    probe_env,
    pytest_cmd,
    row,
    run,
    session,
)
from _stats import interleaved, iqr_text, ratios, spread

GOAL = "7"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] == ".pytest_cache":
            continue
        st = path.stat()
        found[str(rel)] = (st.st_size, st.st_mtime_ns) if path.is_file() else (0, 0)
    return found


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = plugin_dir(tmp)
    project = plugin.parents[1]
    tests = plugin / "tests"
    n = s.scale_tests
    changes: list[str] = []
    cpu: dict[str, list[float]] = {"serial": [], "n2": []}

    def timed(name: str, *extra: str) -> Callable[[], float]:
        def go() -> float:
            before = _snapshot(project)
            elapsed, used = session(tests, "nexus_client", n, *extra)
            after = _snapshot(project)
            changes.extend(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            cpu[name].append(used)
            return elapsed

        return go

    loads = [load_average()]
    times = interleaved({"serial": timed("serial"), "n2": timed("n2", "-n", "2")}, s.scale_pairs)
    loads.append(load_average())
    r = spread(ratios(times["n2"], times["serial"]))

    # One more -n 2 run, not timed, under an audit hook in every process.
    env = probe_env(
        tmp,
        "probe-scale",
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
