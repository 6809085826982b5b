"""How long one draw from ``configs()`` takes, next to hypothesis-jsonschema's ``from_schema``.

A plain script (no pytest)::

    python benchmarks/bench_strategies.py [--examples 1000] [--no-compare] [--hjs-venv DIR]

The ten-key manifest below mixes every kind of rule: bounds that are not
whole numbers, an enum, a pattern with lengths, realistic formats, arrays and
objects.  Each strategy is timed the way a test uses it: a ``@given`` function
run for ``--examples`` examples, generation phase only, no example database.
The total time is divided by the number of examples that actually ran.

For comparison, the script creates a throwaway virtualenv (``--hjs-venv``,
default ``/tmp/nexus-bench-hjs``; never the project's own environment),
installs hypothesis-jsonschema from PyPI into it, and times
``from_schema(to_json_schema(manifest))`` there, in a subprocess; it does the
same again with an older Hypothesis pinned (``--hjs-pin``), in a second
throwaway virtualenv, because hypothesis-jsonschema 0.23 fails on current
Hypothesis (it calls a private ``many.more()`` that was removed).  When
hypothesis-jsonschema cannot be installed, imported or drawn from (it lags
behind new Hypothesis releases), the error is recorded in the results instead
of failing the run.

Results are printed as a table and written to benchmarks/results/strategies.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import venv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nexus_testkit.manifest._load import _build
from nexus_testkit.manifest._rules import check_value
from nexus_testkit.strategies import configs, invalid_configs, to_json_schema

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "strategies.json"

TEN_KEYS: dict[str, Any] = {
    "name": "bench_plugin",
    "configuration": {
        "api_key": {"type": "string", "required": True, "secret": True, "min_length": 16},
        "max_retries": {"type": "integer", "default": 3, "min": 1, "max": 10},
        "timeout": {"type": "number", "default": 30, "min": 0.5, "max": 300},
        "enabled": {"type": "boolean", "default": True},
        "mode": {"type": "string", "enum": ["fast", "safe", "off"], "default": "safe"},
        "region": {"type": "string", "pattern": "^[a-z]{2}-[a-z]+-[0-9]$", "max_length": 20},
        "admin_email": {"type": "string", "format": "email", "required": True},
        "webhook_url": {"type": "string", "format": "uri"},
        "tags": {"type": "array", "default": []},
        "labels": {"type": "object", "default": {}},
    },
}

#: Timed in the throwaway environment: argv[1] is the schema file, argv[2] the example count.
HJS_SNIPPET = r"""
import json, sys, time, traceback
out = {}
try:
    import hypothesis, hypothesis_jsonschema
    from importlib.metadata import version
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis_jsonschema import from_schema
    from jsonschema import Draft202012Validator
    out["hypothesis"] = hypothesis.__version__
    out["hypothesis_jsonschema"] = version("hypothesis-jsonschema")
    schema = json.load(open(sys.argv[1]))
    n = int(sys.argv[2])
    start = time.perf_counter()
    strategy = from_schema(schema)
    values = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        values.append(value)

    begin = time.perf_counter()
    run()
    elapsed = time.perf_counter() - begin
    validator = Draft202012Validator(schema)
    out.update(
        examples=len(values),
        seconds=elapsed,
        per_example_ms=elapsed / max(len(values), 1) * 1000,
        build_ms=(begin - start) * 1000,
        valid=sum(validator.is_valid(v) for v in values),
    )
except BaseException as exc:
    out["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
    out["traceback"] = traceback.format_exc()[-4000:]
print(json.dumps(out))
"""


def time_strategy(
    strategy: st.SearchStrategy[Any], examples: int
) -> tuple[dict[str, Any], list[Any]]:
    """Run ``strategy`` under ``@given`` for ``examples`` examples; time per example."""
    values: list[Any] = []

    @settings(
        max_examples=examples,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        values.append(value)

    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    return {
        "examples": len(values),
        "seconds": elapsed,
        "per_example_ms": elapsed / max(len(values), 1) * 1000,
    }, values


def time_build(build: Any, repeat: int = 50) -> float:
    """Milliseconds to build the strategy (the eager work: parsing rules, compiling schemas)."""
    start = time.perf_counter()
    for _ in range(repeat):
        build()
    return (time.perf_counter() - start) / repeat * 1000


def ours(examples: int) -> list[dict[str, Any]]:
    manifest = _build(Path("<bench>"), TEN_KEYS)
    validator = Draft202012Validator(to_json_schema(manifest))
    rows = []

    result, values = time_strategy(configs(manifest), examples)
    result["name"] = "configs(manifest)"
    result["build_ms"] = time_build(lambda: configs(manifest))
    result["valid"] = sum(
        validator.is_valid(v)
        and all(check_value(manifest.configuration[k], x) is None for k, x in v.items())
        for v in values
    )
    rows.append(result)

    result, values = time_strategy(invalid_configs(manifest), examples)
    result["name"] = "invalid_configs(manifest)"
    result["build_ms"] = time_build(lambda: invalid_configs(manifest), repeat=10)
    result["valid"] = sum(validator.is_valid(v.config) for v in values)  # expected: 0
    rows.append(result)
    return rows


def hypothesis_jsonschema(examples: int, env_dir: Path, pin: str | None = None) -> dict[str, Any]:
    """Time ``from_schema`` in the throwaway virtualenv ``env_dir``, ``pin`` installed too."""
    name = "hypothesis_jsonschema.from_schema(to_json_schema(manifest))"
    row: dict[str, Any] = {"name": f"{name} [{pin}]" if pin else name}
    python = env_dir / "bin" / "python"
    if not python.exists():
        try:
            venv.create(env_dir, with_pip=True, clear=True)
        except Exception as exc:
            row["error"] = f"could not create a virtualenv at {env_dir}: {exc}"
            return row
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "hypothesis-jsonschema",
            *([pin] if pin else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        row["error"] = "pip install hypothesis-jsonschema failed: " + (
            install.stderr.strip()[-2000:] or install.stdout.strip()[-2000:]
        )
        return row
    schema = to_json_schema(TEN_KEYS)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(schema, handle)
    run = subprocess.run(
        [str(python), "-c", HJS_SNIPPET, handle.name, str(examples)],
        capture_output=True,
        text=True,
        check=False,
    )
    Path(handle.name).unlink(missing_ok=True)
    try:
        row.update(json.loads(run.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        row["error"] = f"the timing subprocess failed (exit {run.returncode}): {run.stderr[-2000:]}"
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'strategy':<82} {'examples':>8} {'build ms':>9} {'per example':>12} {'valid':>6}",
        "-" * 121,
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['name']:<82} error: {row['error'].splitlines()[0][:200]}")
            continue
        lines.append(
            f"{row['name']:<82} {row['examples']:>8} {row['build_ms']:>9.2f} "
            f"{row['per_example_ms']:>9.3f} ms {row['valid']:>6}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per strategy")
    parser.add_argument("--no-compare", action="store_true", help="skip hypothesis-jsonschema")
    parser.add_argument(
        "--hjs-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "nexus-bench-hjs",
        help="throwaway virtualenv for hypothesis-jsonschema (created if missing)",
    )
    parser.add_argument(
        "--hjs-pin",
        action="append",
        default=None,
        help="also time hypothesis-jsonschema with this requirement pinned, in its own "
        "throwaway virtualenv (repeatable; default: hypothesis==6.150.0, the last release "
        "line it was seen working with; pass --hjs-pin none to skip)",
    )
    args = parser.parse_args()
    pins = [p for p in (args.hjs_pin or ["hypothesis==6.150.0"]) if p.lower() != "none"]

    rows = ours(args.examples)
    if not args.no_compare:
        rows.append(hypothesis_jsonschema(args.examples, args.hjs_venv))
        for pin in pins:
            suffix = "".join(c if c.isalnum() else "-" for c in pin)
            env_dir = args.hjs_venv.with_name(f"{args.hjs_venv.name}-{suffix}")
            rows.append(hypothesis_jsonschema(args.examples, env_dir, pin))
    print(f"{len(TEN_KEYS['configuration'])}-key manifest, {args.examples} examples per strategy\n")
    print(table(rows))
    for row in rows:
        if "error" in row:
            print(f"\n{row['name']} failed:\n{row.get('traceback') or row['error']}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hypothesis": hypothesis.__version__,
        "examples": args.examples,
        "manifest": TEN_KEYS,
        "results": rows,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    sys.exit(main())
