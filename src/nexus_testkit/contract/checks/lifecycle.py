"""Checks of initialize(), shutdown() and what a stopped plugin leaves behind."""

from __future__ import annotations

from .._checks import Verdict, check, failed, passed, skipped
from .._evidence import Evidence
from ._util import TIMEOUT_FIX, bullets, timed_out


@check(
    "lifecycle.initialize",
    severity="error",
    description="initialize() with a valid configuration returns True within the time-out.",
    fix="Return True from initialize() when it succeeds; never block or wait forever in it.",
    needs={"start"},
)
def initialize(ev: Evidence) -> Verdict | None:
    error = ev.start_error
    if error is None or getattr(error, "stage", None) == "routes":
        return None
    return failed(str(error), TIMEOUT_FIX if timed_out(str(error)) else None)


@check(
    "lifecycle.shutdown",
    severity="error",
    description="shutdown() completes within the time-out and does not raise.",
    fix="Catch errors of cleanup steps in shutdown(); bound every wait with a time-out.",
    needs={"shutdown"},
)
def shutdown(ev: Evidence) -> Verdict | None:
    if ev.shutdown_errors:
        return failed(bullets(ev.shutdown_errors))
    return None


@check(
    "lifecycle.tasks",
    severity="error",
    description="No asyncio task the plugin started is still pending after shutdown().",
    fix="Keep a reference to each task you create, cancel and await it in shutdown().",
    needs={"shutdown"},
)
def tasks(ev: Evidence) -> Verdict | None:
    if ev.leftover_tasks:
        return failed("tasks still pending after shutdown():\n" + bullets(ev.leftover_tasks))
    return None


@check(
    "lifecycle.threads",
    severity="error",
    description="""No thread the plugin started (at import or in any call) is still running
    when its contract ends; the event loop's default executor and anyio's worker threads are
    not the plugin's.""",
    fix="""Stop the threads you start in shutdown() (an Event the thread checks, then
    thread.join()); prefer asyncio tasks or asyncio.to_thread().""",
    needs={"load"},
)
def threads(ev: Evidence) -> Verdict | None:
    if ev.threads_left:
        return failed(
            "threads still running after the plugin's last call:\n" + bullets(ev.threads_left)
        )
    return None


@check(
    "lifecycle.unsubscribe",
    severity="warning",
    description="Handlers the plugin subscribed are unsubscribed by shutdown().",
    fix="Call unsubscribe_from_event for each subscription in shutdown().",
    needs={"shutdown"},
)
def unsubscribe(ev: Evidence) -> Verdict | None:
    if ev.leftover_subscriptions:
        return failed(
            "handlers still subscribed after shutdown():\n" + bullets(ev.leftover_subscriptions)
        )
    return None


@check(
    "lifecycle.restart",
    severity="error",
    description="""A fresh instance initializes again over the same stores after shutdown()
    (what disable/enable does).""",
    fix="Do not leave state in the stores that makes the next start fail.",
    needs={"restart"},
)
def restart(ev: Evidence) -> Verdict | None:
    attempt = ev.restart
    if attempt is not None and attempt.problem:
        return failed(
            f"a fresh instance over the same stores did not start: {attempt.problem}",
            TIMEOUT_FIX if timed_out(attempt.problem) else None,
        )
    return None


@check(
    "lifecycle.double_shutdown",
    severity="warning",
    description="Calling shutdown() twice does not raise.",
    fix="Make shutdown() idempotent: guard cleanup with flags or None checks.",
    needs={"double_shutdown"},
)
def double_shutdown(ev: Evidence) -> Verdict | None:
    attempt = ev.double_shutdown
    if attempt is not None and attempt.problem:
        return failed(
            f"{ev.file}: a second shutdown() raised {attempt.problem}",
            TIMEOUT_FIX if timed_out(attempt.problem) else None,
        )
    return None


@check(
    "lifecycle.shutdown_uninitialized",
    severity="warning",
    description="shutdown() without initialize() does not raise.",
    fix="Create resources in __init__ as None and check them in shutdown().",
    needs={"shutdown_uninitialized"},
)
def shutdown_uninitialized(ev: Evidence) -> Verdict | None:
    attempt = ev.shutdown_uninitialized
    if attempt is None:
        return skipped("shutdown() was not called")
    if attempt.problem:
        return failed(
            f"{ev.file}: shutdown() on a plugin that was never initialized raised "
            f"{attempt.problem}",
            TIMEOUT_FIX if timed_out(attempt.problem) else None,
        )
    return None


@check(
    "lifecycle.background",
    severity="error",
    description="""Once started under the default configuration, the plugin runs for a
    simulated hour (its periodic jobs wake, in milliseconds of real time; each task wakes at
    most 1000 times): no background task it started crashes or logs an exception meanwhile.""",
    fix="""Catch and handle the error inside the task's loop (or let it end the task on
    purpose and say so in shutdown()); test the job with the nexus_clock fixture:
    await nexus_clock.advance(seconds).""",
    needs={"background"},
)
def background(ev: Evidence) -> Verdict | None:
    if ev.background_failures:
        return failed(
            f"{ev.file}: in {ev.simulated:g} s of simulated time after initialize(), "
            "background tasks failed:\n" + bullets(ev.background_failures)
        )
    if ev.background_notes:
        return passed("\n".join(ev.background_notes))
    return None
