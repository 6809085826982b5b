"""Goal 1: what pytest-nexus costs a pytest run that does not use it.

A run of 20 trivial tests with the plugin loaded against ``-p no:nexus``, the
import time of the entry-point module, and which heavy modules it imports.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _projects
from _common import HEAVY, PY, REPO, Settings, fmt_s, probe_env, pytest_cmd, row, run
from _stats import interleaved, iqr_text, ratios, spread

GOAL = "1"


def _importtime(code: str) -> dict[str, int]:
    """Cumulative microseconds per module name from ``python -X importtime -c code``."""
    _, proc = run([PY, "-X", "importtime", "-c", code], REPO)
    found: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            found[m.group(4)] = int(m.group(2))
    return found


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
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
    added: dict[str, list[str]] = {}
    for label, args in (("loaded", []), ("no_nexus", ["-p", "no:nexus"])):
        run(pytest_cmd(*args), project, env=probe_env(tmp, f"probe-unused-{label}"))
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
