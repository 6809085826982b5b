"""Checks of the events the plugin publishes, subscribes to and handles."""

from __future__ import annotations

import json

from ..._describe import safe_str
from .._checks import Verdict, check, failed, warned
from .._evidence import Evidence
from .._probes import CONTRACT_SOURCE
from ._util import RECORDED, TIMEOUT_FIX, bullets


@check(
    "events.declared",
    severity="error",
    description="""Every event published is declared in events.publishes and every subscription in
    events.subscribes (a warning when the manifest declares no events at all).""",
    fix="Add the event names to the manifest's events section.",
    needs={"manifest", "start"},
    uses=RECORDED,
)
def declared(ev: Evidence) -> Verdict | None:
    manifest = ev.manifest
    pub_names = sorted({e.name for e in ev.published(CONTRACT_SOURCE)})
    sub_names = sorted({s.event_name for s in ev.subscribed()})
    if not manifest.events.declared:
        if not (pub_names or sub_names):
            return None
        parts = [
            f"published {', '.join(pub_names)}" if pub_names else "",
            f"subscribed to {', '.join(sub_names)}" if sub_names else "",
        ]
        return warned(
            "the manifest declares no events, but the plugin "
            + "; ".join(p for p in parts if p)
            + ": declare them under events.publishes / events.subscribes"
        )
    undeclared = [
        f"published {n!r}, not in events.publishes"
        for n in pub_names
        if n not in manifest.events.publishes
    ]
    undeclared += [
        f"subscribed to {n!r}, not in events.subscribes"
        for n in sub_names
        if n not in manifest.events.subscribes
    ]
    if undeclared:
        return failed(f"{manifest.path}:\n" + bullets(undeclared))
    return None


@check(
    "events.serialisable",
    severity="error",
    description="Published payloads are JSON-serialisable.",
    fix="Publish plain JSON data: convert datetimes to ISO strings, sets to lists.",
    needs={"manifest", "start"},
    uses=RECORDED,
)
def serialisable(ev: Evidence) -> Verdict | None:
    bad = []
    for e in ev.published(CONTRACT_SOURCE):
        try:
            json.dumps(e.data)
        except (TypeError, ValueError) as exc:
            bad.append(f"{e.name}: {safe_str(exc)}")
    if bad:
        return failed(bullets(sorted(set(bad))))
    return None


@check(
    "events.handlers_robust",
    severity="warning",
    description="""Each subscribed handler survives well-formed events with unexpected payloads
    (empty, unexpected keys, payloads drawn from events.schemas or arbitrary JSON, and ones
    holding values the API exercise saw, such as ids of created objects).""",
    fix="Read event.data with .get() and handle missing or wrong-typed keys.",
    needs={"handlers"},
)
def handlers_robust(ev: Evidence) -> Verdict | None:
    if ev.handler_failures:
        only_timeouts = len(ev.handler_timeouts) == len(ev.handler_failures)
        return failed(bullets(ev.handler_failures), TIMEOUT_FIX if only_timeouts else None)
    return None
