"""Write docs/performance.md's results table from the JSON of a benchmark run.

    python benchmarks/run.py --json results.json && python benchmarks/table.py results.json

Replaces what lies between the two ``benchmark-table`` markers of the page
with a line saying when and where the run was made and the table of its rows,
rendered by the same function as the table run.py prints (_report.py).
Everything outside the markers is left as it is.  A ``--quick`` run's figures
are not for the documentation: table.py refuses them unless ``--allow-quick``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import markdown_table  # noqa: E402

DOC = HERE.parent / "docs" / "performance.md"
START = "<!-- benchmark-table: written by benchmarks/table.py from a run's JSON; do not edit -->"
END = "<!-- end of benchmark-table -->"


class TableError(Exception):
    """The JSON or the page cannot be used; the message says which file and why."""


def header(document: dict[str, Any]) -> str:
    """``Full run of 2026-11-25 (3.6 minutes): Python 3.11.7, 2 CPUs, ...`` for ``document``."""
    machine = document.get("machine", {})
    parts = [f"Python {str(machine.get('python', '?')).split()[0]}"]
    if machine.get("cpus"):
        parts.append(f"{machine['cpus']} CPUs")
    load = machine.get("loadavg_before") or []
    if load:
        parts.append(f"load average {load[0]:.1f} at the start")
    parts.extend(f"{name} {version}" for name, version in document.get("versions", {}).items())
    when = str(document.get("when", "?"))[:10]
    minutes = float(document.get("seconds", 0)) / 60
    mode = str(document.get("mode", "?")).capitalize()
    return f"{mode} run of {when} ({minutes:.1f} minutes): {', '.join(parts)}."


def render(document: dict[str, Any]) -> str:
    """The block between the markers: the header line, a blank line, the table."""
    rows = document.get("rows")
    if not isinstance(rows, list) or not rows:
        raise TableError("it has no rows (is it the --json output of benchmarks/run.py?)")
    return f"{header(document)}\n\n{markdown_table(rows)}"


def rewrite(page: str, block: str) -> str:
    """``page`` with the text between its START and END markers replaced by ``block``."""
    if page.count(START) != 1 or page.count(END) != 1:
        raise TableError(f"it needs exactly one pair of markers:\n{START}\n{END}")
    before, _, rest = page.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{block}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the --json output of benchmarks/run.py")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page (docs/performance.md)")
    parser.add_argument(
        "--allow-quick", action="store_true", help="accept the figures of a --quick run"
    )
    args = parser.parse_args(argv)
    try:
        try:
            document = json.loads(args.results.read_text())
        except (OSError, ValueError) as exc:
            raise TableError(f"cannot be read as JSON: {exc}") from None
        if document.get("mode") == "quick" and not args.allow_quick:
            raise TableError(
                "is a --quick run, whose figures are a smoke test; "
                "run the full benchmark, or pass --allow-quick"
            )
        block = render(document)
    except TableError as exc:
        print(f"error: {args.results}: {exc}", file=sys.stderr)
        return 2
    try:
        page = args.doc.read_text()
        args.doc.write_text(rewrite(page, block))
    except (OSError, TableError) as exc:
        print(f"error: {args.doc}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.doc}: table rewritten from {args.results} ({len(document['rows'])} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
