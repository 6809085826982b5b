"""The results table (terminal and Markdown) and the profile's text, from the rows of a run.

table.py writes the Markdown table into docs/performance.md from a run's JSON.
"""

from __future__ import annotations

from typing import Any

COLUMNS = (
    ("goal", "goal", 4),
    ("name", "what", 62),
    ("figure", "figure", 22),
    ("peer", "floor / peer", 24),
    ("ratio", "ratio", 7),
    ("target", "target", 22),
    ("met", "met", 5),
    ("spread", "spread", 26),
)


def cell(r: dict[str, Any], key: str) -> str:
    value = r.get(key)
    if key == "ratio":
        return "" if value is None else f"{value:.2f}"
    if key == "met":
        return {True: "yes", False: "NO", None: "-"}[value]
    return str(value if value is not None else "")


def text_table(rows: list[dict[str, Any]]) -> str:
    widths = [max(w, max((len(cell(r, k)) for r in rows), default=0)) for k, _, w in COLUMNS]
    widths = [max(w, len(h)) for w, (_, h, _) in zip(widths, COLUMNS, strict=True)]
    lines = ["  ".join(h.ljust(w) for (_, h, _), w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(cell(r, k).ljust(w) for (k, _, _), w in zip(COLUMNS, widths, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(cell(r, k).replace("|", "/").strip() for k, _, _ in COLUMNS) + " |"
        for r in rows
    ]
    return "\n".join([head, sep, *body])


def profile_text(p: dict[str, Any]) -> str:
    lines = ["", "Where a nexus_client test's time goes"]
    ph = p.get("in_process_phases")
    if ph:
        lines.append(
            f"  in-process cycle (fixture steps + host + GET + close): "
            f"{ph['host_cycle_ms']['median']:.3f} ms; hand-written floor "
            f"{ph['floor_cycle_ms']['median']:.3f} ms; a fresh event loop "
            f"{ph['fresh_event_loop_ms']['median']:.3f} ms"
        )
        for label, d in ph["phases_ms_per_test"].items():
            lines.append(f"    {label:<52} {d['ms']:8.3f} ms  x{d['calls_per_test']:.0f}")
        drift = ph.get("drift")
        if drift:
            lines.append(
                "  drift over a long session (loggers leaked by the host, ms per host cycle):"
            )
            for b in drift:
                logs = "" if b["logs_ms"] is None else f", attach+detach logs {b['logs_ms']:.3f} ms"
                lines.append(
                    f"    after {b['hosts_before']:>5} hosts ({b['loggers']} loggers): "
                    f"{b['cycle_ms']:.3f} ms/cycle{logs}"
                )
    dur = p.get("pytest_phase_durations_ms")
    if dur:
        lines.append("  pytest phases, median ms per test (unprofiled):")
        for variant, d in dur.items():
            parts = ", ".join(f"{w} {v['median_ms']:.2f}" for w, v in d.items())
            lines.append(f"    {variant:<14} {parts}")
    cp = p.get("cprofile")
    if cp:
        variants = list(cp)
        lines.append(
            f"  cProfile of tests 2..{cp[variants[0]]['profiled_tests'] + 1} (runtest protocol "
            "only), self time per test by package, ms (profiler-inflated; read as proportions):"
        )
        first = cp[variants[0]]["self_ms_per_test_by_package"]
        pkgs = sorted(
            {p for v in variants for p in cp[v]["self_ms_per_test_by_package"]},
            key=lambda k: -first.get(k, 0.0),
        )
        lines.append(f"    {'package':<24}" + "".join(f"{v:>14}" for v in variants))
        for pkg in pkgs:
            vals = [cp[v]["self_ms_per_test_by_package"].get(pkg, 0.0) for v in variants]
            if max(vals) >= 0.03:
                lines.append(f"    {pkg:<24}" + "".join(f"{x:14.3f}" for x in vals))
        lines.append(
            f"    {'total':<24}"
            + "".join(f"{cp[v]['total_self_ms_per_test']:14.3f}" for v in variants)
        )
        lines.append(
            "  the same profile, inclusive ms per nexus_client test of selected functions:"
        )
        for label, d in cp[variants[0]]["functions"].items():
            lines.append(f"    {label:<44} {d['ms_per_test']:8.3f} ms  x{d['calls_per_test']:.1f}")
    ret = p.get("retention")
    if ret:
        small, big = ret["sizes"]
        lines.append(f"  what a session keeps ({big} vs {small} tests, per test):")
        for variant, d in ret["variants"].items():
            alive = d["alive_at_end"]
            lines.append(
                f"    {variant:<14} peak RSS {d['maxrss_kb_per_test']:6.1f} KB, objects "
                f"{d['objects_per_test']:6.0f}, GC {d['gc_ms_per_test']:.3f} ms "
                f"(full collections {d['gc_gen2_ms_per_test']:.3f} ms); alive at the end: "
                f"{alive.get('PluginHost', 0)} PluginHost, {alive.get('FastAPI', 0)} FastAPI"
            )
    rw = p.get("assertion_rewrite")
    if rw:
        lines.append(
            f"  pytest assertion-rewrites the {rw['modules']} nexus_testkit/pytest_nexus modules a "
            f"host imports, every session (no pyc cache under PYTHONDONTWRITEBYTECODE): "
            f"{rw['rewrite_ms']:.1f} ms vs plain compile {rw['compile_ms']:.1f} ms"
        )
    return "\n".join(lines)
