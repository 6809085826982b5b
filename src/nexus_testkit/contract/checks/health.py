"""Checks of health_check()."""

from __future__ import annotations

import json
from typing import Any

from ..._describe import describe_exception, safe_repr
from .._checks import Verdict, check, failed
from .._evidence import Evidence
from ._util import TIMEOUT_FIX, timed_out


class _Raised(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _attr(status: Any, name: str) -> Any:
    """``getattr(status, name, None)``: a property of the plugin's object may raise anything."""
    try:
        return getattr(status, name, None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a property must not end the run
        raise _Raised(
            f"returned {type(status).__name__} whose `{name}` raised {describe_exception(exc)}"
        ) from None


def _problem(status: Any) -> str | None:
    try:
        healthy = _attr(status, "healthy")
        if not isinstance(healthy, bool):
            return f"returned {type(status).__name__}, not a HealthStatus with a boolean `healthy`"
        dump = _attr(status, "model_dump_json") or _attr(status, "json")
    except _Raised as exc:
        return exc.text
    try:
        if dump is not None:
            dump()
        else:
            json.dumps(vars(status))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from the plugin's model must not end the run
        return f"returned a HealthStatus that does not serialise to JSON: {describe_exception(exc)}"
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
        try:
            message = _attr(attempt.value, "message") or ""
        except _Raised as exc:
            message = exc.text
        return failed(
            "health_check() after a successful initialize() reports healthy=False "
            f"({safe_repr(message)})"
        )
    return None
