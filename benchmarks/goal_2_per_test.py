"""Goal 2: the cost of one more ``nexus_client`` test against the hand-written floor.

Measured as a differential between a small and a big session, so that
start-up, imports and collection cancel; CPU time, with the wall-time ratio
beside it.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

import _projects
from _common import PY, Settings, bench_env, fmt_s, pytest_cmd, row, run, session
from _stats import iqr_text, ratios, spread

GOAL = "2"


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("E "):
            return line[1:].strip()
    return output.strip().splitlines()[-1] if output.strip() else "failed"


#: Session sizes of the call counts: deterministic, so one pair is enough.
_CALL_SIZES = (50, 250)


def _calls(tests: Path, variant: str, n: int, out: Path) -> int:
    """Python function calls of one pytest session of ``n`` tests, counted by cProfile."""
    file = tests / _projects.VARIANT_FILES[variant]
    cmd = [PY, "-m", "cProfile", "-o", str(out), "-m", "pytest", "-q", str(file)]
    _, proc = run(cmd, tests.parents[2], env=bench_env(BENCH_N=str(n)))
    if f"{n} passed" not in proc.stdout:
        raise RuntimeError(f"{variant} N={n} under cProfile: {proc.stdout[-2000:]}")
    total = pstats.Stats(str(out)).total_calls  # type: ignore[attr-defined]
    out.unlink()
    return int(total)


def calls_per_test(tests: Path, variants: list[str], tmp: Path) -> dict[str, float]:
    """Python calls per test of each variant, as a differential of two session sizes.

    Unlike time, a call count does not move with the machine's load: it says
    whether a change removed work, where a timing on a busy machine cannot.
    """
    small, big = _CALL_SIZES
    return {
        v: (_calls(tests, v, big, tmp / "calls.prof") - _calls(tests, v, small, tmp / "calls.prof"))
        / (big - small)
        for v in variants
    }


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
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
            t = {n: session(tests, v, n) for n in sizes}
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
                "  note: that fixture behind the harness's fixture graph (10 trivial fixtures)",
                "floor_chain",
                "(report)",
                None,
            )
        )
    counted = calls_per_test(tests, [v for v in live if v != "testclient"], tmp)
    for v, label in (
        ("nexus_client", "  Python calls per test: nexus_client (cProfile, deterministic)"),
        ("floor_fixture", "  Python calls per test: the floor as an async fixture"),
        ("floor_chain", "  Python calls per test: that fixture behind 10 trivial fixtures"),
    ):
        if v in counted:
            rows.append(
                row(
                    "2",
                    label,
                    f"{counted[v]:.0f}",
                    f"{counted['floor']:.0f} floor",
                    counted[v] / counted["floor"],
                    "(report)",
                    None,
                    f"differential {_CALL_SIZES[1]}-{_CALL_SIZES[0]} tests",
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
        "python_calls_per_test": counted,
    }
