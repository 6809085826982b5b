"""Checks of how the plugin shares the event loop."""

from __future__ import annotations

from .._checks import Verdict, check, failed
from .._evidence import Evidence
from ._util import RECORDED, bullets


@check(
    "robustness.blocking",
    severity="warning",
    description="""The event loop is not blocked for more than the bound (200 ms) during
    initialize(), shutdown(), a route call or a handler, with a frame of the plugin on the
    stack (the harness's own work, imports, garbage collection and a loop thread that a busy
    machine left without CPU never count).""",
    fix="Move blocking work to asyncio.to_thread() or use async libraries.",
    needs={"start"},
    uses=RECORDED
    | {"health_before", "shutdown_uninitialized", "config_invalid", "config_required"},
)
def blocking(ev: Evidence) -> Verdict | None:
    # The sample names the innermost frame of the plugin when one is on the stack.
    own = str(ev.directory.resolve())
    blocks = [
        b
        for b in ev.blocks
        if b.during
        and not b.importing
        and b.site.startswith(own)
        and getattr(b, "blocked_by_plugin", True)
    ]
    if blocks:
        return failed(
            f"the event loop was blocked for more than {ev.blocking_threshold:g} s:\n"
            + bullets([f"{b.duration:.2f} s during {b.during} at {b.site}" for b in blocks])
        )
    return None
