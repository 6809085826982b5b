"""Performance benchmarks of pytest-nexus: every goal against its floor or peer, in one run.

    python benchmarks/run.py            # full run, about 5-10 minutes on 2 cores
    python benchmarks/run.py --quick    # short run, under 2 minutes, fewer repetitions
    python benchmarks/run.py --json PATH   # default benchmarks/results/latest.json
    python benchmarks/run.py --only 1,3    # some goals only (1-7, and "profile")
    python benchmarks/table.py PATH        # docs/performance.md's table from that JSON

Run it with the Python of the environment that has pytest-nexus installed
(the ``[test]`` extra: nexus-platform, pytest-xdist).  Each figure is measured
against its floor or peer in the same run, variants interleaved (A B A B ...,
the first of each pair alternating) so that drift of the machine cancels;
figures are medians of the repetitions and the spread is given as the
inter-quartile range (IQR) relative to the median.  pytest sessions run as
subprocesses in throw-away projects under a temporary directory, with
PYTHONDONTWRITEBYTECODE=1 as users run them.

Each goal is one module, benchmarks/goal_*.py, with ``measure(settings, tmp)``
returning its rows and figures; the statistics are defined once in _stats.py.
See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import goal_1_startup
import goal_2_per_test
import goal_3_requests
import goal_4_contract
import goal_5_fakes
import goal_6_strategies
import goal_7_scale
import goal_p_profile
from _common import HERE, Settings, load_average, perf, row
from _report import markdown_table, profile_text, text_table

GOALS: dict[str, Callable[[Settings, Path], dict[str, Any]]] = {
    module.GOAL: module.measure
    for module in (
        goal_1_startup,
        goal_2_per_test,
        goal_3_requests,
        goal_4_contract,
        goal_5_fakes,
        goal_6_strategies,
        goal_7_scale,
        goal_p_profile,
    )
}

#: Distributions whose versions the JSON records (and docs/performance.md's header shows).
VERSIONS = ("nexus-platform", "fastapi", "starlette", "httpx", "pydantic", "hypothesis", "pytest")


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


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
    load_before = load_average()
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
            "loadavg_after": load_average(),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        },
        "versions": versions(),
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
