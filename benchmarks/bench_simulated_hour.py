"""What the contract's simulated hour (``lifecycle.background``) costs in real time.

A plain script (no pytest)::

    python benchmarks/bench_simulated_hour.py [--reps 15] [--backend fake|platform]

For each plugin, a ``PluginHost`` is started as the contract starts its main
host, and ``host.clock.advance(3600, max_task_wakeups=1000)`` (the contract's
call) is timed with ``time.perf_counter``; the median and the range over
``--reps`` fresh hosts are printed.  The plugins: three whose loops only sleep
(every 300 s; every 30 s; every 10 ms, which hits the wake-up cap), written to
a temporary directory, and the example task_manager, whose stats job writes to
the store every 30 s.  Results go to benchmarks/results/simulated_hour.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from nexus_testkit import HostOptions, PluginHost

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "plugins" / "task_manager"

_SOURCE = """
import asyncio


class SleeperPlugin:
    def __init__(self):
        self.name, self.category, self.version = {name!r}, "bench", "0.1.0"
        self.config = {{}}
        self.runs = 0

    async def initialize(self):
        self.job = asyncio.create_task(self.loop())
        return True

    async def loop(self):
        while True:
            await asyncio.sleep({period!r})
            self.runs += 1

    async def shutdown(self):
        self.job.cancel()

    def get_api_routes(self):
        return []

    def get_database_schema(self):
        return {{}}

    async def health_check(self):
        return {{"healthy": True}}


def create_plugin():
    return SleeperPlugin()
"""


def _sleeper(root: Path, name: str, period: float) -> Path:
    directory = root / name
    directory.mkdir()
    (directory / "manifest.json").write_text(
        json.dumps({"name": name, "version": "0.1.0", "category": "bench"})
    )
    (directory / "plugin.py").write_text(textwrap.dedent(_SOURCE.format(name=name, period=period)))
    return directory


async def _one(directory: Path, backend: str) -> tuple[float, int]:
    options = HostOptions(backend=backend, allow_handler_errors=True, raise_app_exceptions=False)
    async with PluginHost(directory, options) as host:
        clock = host.clock
        assert clock is not None
        before = clock.wakeups
        start = time.perf_counter()
        await clock.advance(3600, max_task_wakeups=1000)
        return time.perf_counter() - start, clock.wakeups - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--backend", default="fake", choices=("fake", "platform"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plugins = {
            "sleeps every 300 s": _sleeper(root, "every_300_s", 300),
            "sleeps every 30 s": _sleeper(root, "every_30_s", 30),
            "sleeps every 10 ms (capped)": _sleeper(root, "every_10_ms", 0.01),
            "task_manager (writes every 30 s)": EXAMPLE,
        }
        for label, directory in plugins.items():
            runs = [asyncio.run(_one(directory, args.backend)) for _ in range(args.reps)]
            times = sorted(t for t, _ in runs)
            results[label] = {
                "median_ms": statistics.median(times) * 1000,
                "min_ms": times[0] * 1000,
                "max_ms": times[-1] * 1000,
                "wakeups": runs[-1][1],
            }
            r = results[label]
            print(
                f"{label:36} {r['median_ms']:8.2f} ms  (min {r['min_ms']:.2f}, "
                f"max {r['max_ms']:.2f}; {r['wakeups']} wake-ups)  [{args.backend}]"
            )
    out = HERE / "results" / f"simulated_hour_{args.backend}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"python": sys.version, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
