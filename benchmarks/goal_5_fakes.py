"""Goal 5: the recording fakes against the platform's event bus and a plain dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import Settings, fmt_rate, fmt_s, row, work
from _stats import iqr_text

GOAL = "5"


def measure(s: Settings, tmp: Path) -> dict[str, Any]:
    data = work("fakes", "--rounds", str(s.fakes_rounds))
    rates = data["bus_events_per_s"]
    rec, host, plat = (
        rates[k]["median"] for k in ("recording", "recording_host_timeout", "platform")
    )
    r = data["bus_ratio_recording_over_platform"]
    rh = data["bus_ratio_host_over_platform"]
    st = data["store_s_per_op"]
    rm = data["store_ratio_memory_over_plain"]
    rs = data["store_ratio_sql_over_memory"]
    rows = [
        row(
            "5",
            "RecordingEventBus inline -> 3 handlers vs nexus EventBus e2e",
            fmt_rate(rec),
            fmt_rate(plat),
            r["median"],
            ">= 1,000,000/s, >= 25x",
            rec >= 1_000_000 and r["median"] >= 25,
            "ratio " + iqr_text(r),
        ),
        row(
            "5",
            "  same, as nexus_host configures it (handler_timeout=5 s)",
            fmt_rate(host),
            fmt_rate(plat),
            rh["median"],
            ">= 1,000,000/s, >= 25x",
            host >= 1_000_000 and rh["median"] >= 25,
            "ratio " + iqr_text(rh),
        ),
        row(
            "5",
            "RecordingDataStore memory set+get vs plain dict adapter (time/op)",
            fmt_s(st["recording_memory"]["median"])
            + f" ({fmt_rate(1 / st['recording_memory']['median'])})",
            fmt_s(st["plain_dict"]["median"]),
            rm["median"],
            "<= 1.5",
            rm["median"] <= 1.5,
            "ratio " + iqr_text(rm),
        ),
        row(
            "5",
            "RecordingDataStore sql vs memory fidelity (time/op)",
            fmt_s(st["recording_sql"]["median"]),
            fmt_s(st["recording_memory"]["median"]),
            rs["median"],
            "(report)",
            None,
            "ratio " + iqr_text(rs),
        ),
    ]
    return {"rows": rows, **data}
