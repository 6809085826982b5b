"""The price of process isolation: the contract in a worker process vs in-process (inline).

    python benchmarks/bench_isolation.py            # about 2-3 minutes on 2 cores
    python benchmarks/bench_isolation.py --quick    # under a minute, fewer repetitions
    python benchmarks/bench_isolation.py --json PATH   # default benchmarks/results/isolation.json

Figures (medians; the spread is the inter-quartile range relative to the
median; process and inline runs interleaved, the first of each pair
alternating, so that drift of the machine cancels):

- ``cold``: ``python -m nexus_testkit check <good plugin>`` as a fresh
  process, ``--isolation process`` vs ``inline`` (the process run pays an
  interpreter start and the server's warm-up, the inline run its imports
  and first run);
- ``ten``: the same command with ten copies of the plugin in one call (the
  goal: process within 1.3 times inline);
- ``warm``: one more plugin in a process that has run one already:
  ``WorkerPool.run`` vs ``asyncio.run(run_contract(...))``;
- ``fork``: the per-plugin cost of isolation alone: a plugin directory
  with no manifest (the contract stops after one check), in a worker vs
  inline: forking, setting up the worker, the channel and the report.

The good plugin is examples/plugins/my_awesome_plugin, as in benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE = REPO / "examples" / "plugins" / "my_awesome_plugin"
PY = sys.executable
perf = time.perf_counter
sys.path.insert(0, str(HERE))

import _projects  # noqa: E402
import _stats  # noqa: E402


def env() -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NEXUS_"))}
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    return result


def cli_seconds(plugins: list[Path], isolation: str, cwd: Path) -> float:
    started = perf()
    proc = subprocess.run(
        [PY, "-m", "nexus_testkit", "check", *map(str, plugins), "--isolation", isolation],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = perf() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"check exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


def interleaved(
    reps: int, a: Callable[[], float], b: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """process (a) and inline (b), alternating which goes first (benchmarks/_stats.py)."""
    times = _stats.interleaved({"process": a, "inline": b}, reps)
    return times["process"], times["inline"]


def pair(name: str, process: list[float], inline: list[float]) -> dict[str, Any]:
    p, i = _stats.spread(process), _stats.spread(inline)
    r = _stats.spread(_stats.ratios(process, inline))  # paired: drift cancels
    print(
        f"{name:6} process {p['median']:.3f} s ({_stats.iqr_text(p)}), inline "
        f"{i['median']:.3f} s ({_stats.iqr_text(i)}): {r['median']:.2f}x",
        flush=True,
    )
    return {"process": p, "inline": i, "ratio": r["median"], "ratios": r}


def in_process(reps: int, work: Path) -> dict[str, Any]:
    """warm and fork figures, measured in this process (one pool, started once)."""
    sys.path.insert(0, str(REPO / "src"))
    from nexus_testkit.contract._runner import run_contract
    from nexus_testkit.isolation import WorkerPool

    empty = work / "no_manifest"
    empty.mkdir()
    (empty / "plugin.py").write_text("")
    results: dict[str, Any] = {}
    with WorkerPool() as pool:
        started = perf()
        pool.run(EXAMPLE)  # starts and warms the server, then one plugin
        results["server_start_and_first_plugin"] = perf() - started
        results["server_ready"] = pool.ready
        asyncio.run(run_contract(EXAMPLE))  # this process warm too

        def timed(call: Callable[[], object]) -> Callable[[], float]:
            def run() -> float:
                t = perf()
                call()
                return perf() - t

            return run

        warm = interleaved(
            reps,
            timed(lambda: pool.run(EXAMPLE)),
            timed(lambda: asyncio.run(run_contract(EXAMPLE))),
        )
        results["warm"] = pair("warm", *warm)
        fork = interleaved(
            reps * 3,
            timed(lambda: pool.run(empty)),
            timed(lambda: asyncio.run(run_contract(empty))),
        )
        results["fork"] = pair("fork", *fork)
        cost = results["fork"]["process"]["median"] - results["fork"]["inline"]["median"]
        results["per_plugin_fork_cost"] = cost
        print(f"per-plugin isolation cost (fork, set-up, channel, report): {cost * 1000:.1f} ms")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=str(HERE / "results" / "isolation.json"))
    args = parser.parse_args(argv)
    reps_cli = 3 if args.quick else 7
    reps_warm = 5 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="nexus-bench-isolation-") as tmp:
        work = Path(tmp)
        ten = []
        for i in range(10):
            target = work / f"bench_awesome_{i}"
            _projects.copy_renamed_plugin(
                EXAMPLE, target, "my_awesome_plugin", f"bench_awesome_{i}"
            )
            ten.append(target)
        results: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
        cold = interleaved(
            reps_cli,
            lambda: cli_seconds([EXAMPLE], "process", work),
            lambda: cli_seconds([EXAMPLE], "inline", work),
        )
        results["cold"] = pair("cold", *cold)
        many = interleaved(
            reps_cli,
            lambda: cli_seconds(ten, "process", work),
            lambda: cli_seconds(ten, "inline", work),
        )
        results["ten"] = pair("ten", *many)
        results.update(in_process(reps_warm, work))
    goal = results["ten"]["ratio"] <= 1.3
    print(f"goal (ten plugins in one call within 1.3x inline): {'met' if goal else 'NOT met'}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
