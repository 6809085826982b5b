"""Checks of health_check()."""

from __future__ import annotations

import json
from typing import Any

from .._checks import Verdict, check, failed
from .._evidence import Evidence
from ._util import TIMEOUT_FIX, timed_out


def _problem(status: Any) -> str | None:
    healthy = getattr(status, "healthy", None)
    if not isinstance(healthy, bool):
        return f"returned {type(status).__name__}, not a HealthStatus with a boolean `healthy`"
    dump = getattr(status, "model_dump_json", None) or getattr(status, "json", None)
    try:
        if dump is not None:
            dump()
        else:
            json.dumps(vars(status))
    except Exception as exc:
        return (
            f"returned a HealthStatus that does not serialise to JSON: {type(exc).__name__}: {exc}"
        )
    return None


@check(
    "health.before_init",
    severity="error",
    description="""health_check() before initialize() returns a HealthStatus (healthy is a bool,
    the model serialises to JSON) and does not raise.""",
    fix="Make health_check() work on an uninitialized plugin; report healthy=False.",
    needs={"health_before"},
)
def before_init(ev: Evidence) -> Verdict | None:
    attempt = ev.health_before
    assert attempt is not None
    if attempt.problem:
        return failed(
            f"{ev.file}: health_check() before initialize() raised {attempt.problem}",
            TIMEOUT_FIX if timed_out(attempt.problem) else None,
        )
    problem = _problem(attempt.value)
    if problem:
        return failed(f"{ev.file}: health_check() before initialize() {problem}")
    return None


@check(
    "health.after_init",
    severity="error",
    description="health_check() after a successful initialize() reports healthy.",
    fix="Set self.initialized = True in initialize(), or fix the unhealthy component.",
    needs={"health_after"},
)
def after_init(ev: Evidence) -> Verdict | None:
    attempt = ev.health_after
    assert attempt is not None
    if attempt.problem:
        return failed(
            f"health_check() after initialize() raised {attempt.problem}",
            TIMEOUT_FIX if timed_out(attempt.problem) else None,
        )
    problem = _problem(attempt.value)
    if problem:
        return failed(f"health_check() after initialize() {problem}")
    if not attempt.value.healthy:
        message = getattr(attempt.value, "message", "")
        return failed(
            f"health_check() after a successful initialize() reports healthy=False ({message!r})"
        )
    return None
