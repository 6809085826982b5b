"""What every goal module of the benchmarks shares: settings, subprocess runs, formatting.

The statistics live in _stats.py, the generated projects in _projects.py.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
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


def load_average() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def plugin_dir(tmp: Path) -> Path:
    """The minimal plugin's directory in the shared generated project (written once)."""
    project = tmp / "plugin-project"
    if not project.exists():
        _projects.write_plugin_project(project)
    return project / "plugins" / _projects.PLUGIN_NAME


def session(tests: Path, variant: str, n: int, *extra: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one pytest session of ``n`` tests of ``variant``."""
    file = tests / _projects.VARIANT_FILES[variant]
    elapsed, proc = run(
        pytest_cmd(str(file), *extra), tests.parents[2], env=bench_env(BENCH_N=str(n))
    )
    if f"{n} passed" not in proc.stdout:
        raise RuntimeError(f"{variant} N={n}: {proc.stdout[-2000:]}")
    return elapsed, proc.cpu  # type: ignore[attr-defined]


def probe_env(tmp: Path, out: str, **extra: str) -> dict[str, str]:
    """The environment of a session under the probe plugin, writing ``tmp/out.*.json``."""
    probe = tmp / "probe"
    _projects.write_probe(probe)
    return bench_env(
        PYTEST_PLUGINS="benchprobe",
        PYTHONPATH=str(probe),
        BENCH_PROBE_OUT=str(tmp / out),
        **extra,
    )
