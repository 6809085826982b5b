"""Goal 4: the lifecycle contract: warm in-process, cold from the command line, ten at once."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import _projects
from _common import EXAMPLE, PY, REPO, Settings, fmt_s, row, run, work
from _stats import interleaved, iqr_text, ratios, spread

GOAL = "4"


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
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
        # One summary line per plugin (the ecosystem checks of the set add their own).
        passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("bench_awesome_")]
        if len(passed) != 10 or not all(", 0 failed," in ln for ln in passed):
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
