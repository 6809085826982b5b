"""Goal 6: the hypothesis strategies, as measured by benchmarks/bench_strategies.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _common import HERE, PY, REPO, Settings, row, run

GOAL = "6"


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
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
