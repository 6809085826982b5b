"""Checks of what the plugin's data survives: the storage-fidelity replay."""

from __future__ import annotations

from .._checks import Verdict, check, failed, passed
from .._evidence import Evidence
from ._util import bullets


@check(
    "store.round_trip",
    severity="error",
    description="""The API exercise, replayed with the same draws under the default and a few drawn
    valid configurations, answers and publishes the same on a store of sql fidelity (values
    round-trip as through the platform's SQL adapter) as in memory; a value that comes back
    changed without a visible difference is a warning.""",
    fix="""Store values as JSON containers (set_data(key, {"value": flag})) or convert what you read
    back (the SQL adapter stores str(value): False reads back as "False", "42" as 42).""",
    needs={"round_trip"},
)
def round_trip(ev: Evidence) -> Verdict | None:
    if ev.round_trip_differences:
        return failed(
            "answers or events that differ once the store round-trips values as SQL does:\n"
            + bullets(ev.round_trip_differences)
        )
    if ev.round_trip_changed:
        return Verdict(
            "warning",
            "values that come back changed from an SQL store (no answer showed it yet):\n"
            + bullets(ev.round_trip_changed),
        )
    return passed(f"{ev.round_trip_runs} configuration(s) replayed on an sql store")
