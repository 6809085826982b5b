"""Which frames of a traceback or stack are the harness's own.

Reports name the plugin's line, never one of ours: every place that walks a
stack (time-outs, task creation sites, blocking samples) skips frames whose
file lies under these directories.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HARNESS_DIR", "HARNESS_DIRS", "is_harness_file"]

#: The nexus_testkit package directory.
HARNESS_DIR = str(Path(__file__).parent)
#: nexus_testkit and pytest_nexus (found beside it, not imported: it needs pytest).
HARNESS_DIRS = (HARNESS_DIR, str(Path(__file__).parent.parent / "pytest_nexus"))


def is_harness_file(filename: str) -> bool:
    """True for a file of nexus_testkit or pytest_nexus."""
    return filename.startswith(HARNESS_DIRS)
