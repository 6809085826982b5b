"""Goal 3: one GET through ``nexus_client`` against a plain httpx ASGITransport client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import Settings, fmt_s, plugin_dir, row, work
from _stats import iqr_text

GOAL = "3"


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
    plugin = plugin_dir(tmp)
    data = work("requests", "--plugin", str(plugin), "--total", str(s.requests_total))
    r = data["ratio"]
    rows = [
        row(
            "3",
            f"per request: nexus_client vs raw ASGITransport ({data['requests_per_variant']} GETs)",
            fmt_s(data["nexus_client_s"]["median"]),
            fmt_s(data["raw_s"]["median"]),
            r["median"],
            "<= 1.1",
            r["median"] <= 1.1,
            "ratio " + iqr_text(r),
        )
    ]
    return {"rows": rows, **data}
