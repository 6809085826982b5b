"""benchmarks/table.py: docs/performance.md's results table, generated from a run's JSON."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ._helpers import REPO

TABLE = REPO / "benchmarks" / "table.py"
RESULTS = Path(__file__).parent / "data" / "benchmark_results.json"
START = "<!-- benchmark-table: written by benchmarks/table.py from a run's JSON; do not edit -->"
END = "<!-- end of benchmark-table -->"

EXPECTED = f"""{START}
Full run of 2026-11-25 (3.6 minutes): Python 3.11.7, 2 CPUs, load average 0.9 at the start, nexus-platform 0.1.5, fastapi 0.109.2.

| goal | what | figure | floor / peer | ratio | target | met | spread |
|---|---|---|---|---|---|---|---|
| 1 | unused: 20 trivial tests, plugin loaded vs -p no:nexus | 761.57 ms | 750.98 ms | 1.01 | <= 1.05 | yes | ratio IQR 1.6% n=15 |
| 2 | note: the floor as an async fixture | 1.41 ms | 1.24 ms floor | 1.15 | (report) | - | ratio IQR 0.8% n=5 |
| 5 | RecordingEventBus inline -> 3 handlers vs nexus EventBus e2e | 344,366/s | 83,153/s |  | >= 1,000,000/s / >= 25x | NO |  |
{END}"""


def table(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TABLE), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_the_table_between_the_markers_is_rewritten_and_nothing_else(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nbefore\n\n{START}\nold table\n{END}\n\nafter\n")
    result = table(RESULTS, "--doc", doc)
    assert result.returncode == 0, result.stderr
    assert doc.read_text() == f"# Performance\n\nbefore\n\n{EXPECTED}\n\nafter\n"
    assert result.stdout == f"{doc}: table rewritten from {RESULTS} (3 rows)\n"
    assert table(RESULTS, "--doc", doc).returncode == 0
    assert doc.read_text() == f"# Performance\n\nbefore\n\n{EXPECTED}\n\nafter\n"  # idempotent


def test_the_documentation_page_can_be_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    shutil.copy(REPO / "docs" / "performance.md", doc)
    page = doc.read_text()
    result = table(RESULTS, "--doc", doc)
    assert result.returncode == 0, result.stderr
    before, _, rest = page.partition(START)
    after = rest.partition(END)[2]
    assert doc.read_text() == f"{before}{EXPECTED}{after}"
    # The committed table has the columns the generator writes.
    assert EXPECTED.splitlines()[3] in page


def test_a_quick_run_is_refused_unless_allowed(tmp_path: Path) -> None:
    quick = tmp_path / "quick.json"
    quick.write_text(RESULTS.read_text().replace('"mode": "full"', '"mode": "quick"'))
    doc = tmp_path / "performance.md"
    doc.write_text(f"{START}\n{END}\n")
    result = table(quick, "--doc", doc)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {quick}: is a --quick run, whose figures are a smoke test; "
        "run the full benchmark, or pass --allow-quick\n"
    )
    assert doc.read_text() == f"{START}\n{END}\n"
    assert table(quick, "--doc", doc, "--allow-quick").returncode == 0
    assert doc.read_text().startswith(f"{START}\nQuick run of 2026-11-25")


def test_bad_input_gets_one_line_naming_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("no markers here\n")
    result = table(RESULTS, "--doc", doc)
    assert (result.returncode, result.stderr) == (
        2,
        f"error: {doc}: it needs exactly one pair of markers:\n{START}\n{END}\n",
    )
    empty = tmp_path / "empty.json"
    empty.write_text('{"mode": "full", "rows": []}')
    result = table(empty, "--doc", doc)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {empty}: it has no rows (is it the --json output of benchmarks/run.py?)\n"
    )
    missing = tmp_path / "missing.json"
    result = table(missing, "--doc", doc)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {missing}: cannot be read as JSON: ")
    assert "Traceback" not in result.stderr
