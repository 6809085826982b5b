"""Checks of how the plugin shares the event loop."""

from __future__ import annotations

from .._checks import Verdict, check, failed
from .._evidence import Evidence
from .._probes import CONTRACT_SOURCE, REFUSALS
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


def _refused_by_us(exc: BaseException | None) -> bool:
    """The exception is (or was raised from) the contract's own refusal of the network:
    logging that is a plugin coping with an unreachable service (permissions.declared
    lists the attempt)."""
    from ...host._network import NetworkBlockedError
    from ...world._http import UnmockedRequestError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (NetworkBlockedError, UnmockedRequestError)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


@check(
    "robustness.swallowed_errors",
    severity="warning",
    description="""No exception is only logged or swallowed during the contract run: a log
    record at ERROR or above carrying one (logger.exception(), exc_info=True), or an exception
    a handler raised for an event the plugin published, which the bus logs and skips (a
    refused invalid configuration, the contract's own events and its refusals of the network
    excepted).""",
    fix="""Let the exception raise where the caller can see it, or handle it for real; if the
    error is expected, log it without the exception (or below ERROR).""",
    needs={"start"},
    uses=RECORDED | {"background", "config_invalid", "config_required"},
)
def swallowed_errors(ev: Evidence) -> Verdict | None:
    from ...world._swallowed import SwallowedError, _site

    prefer = (str(ev.directory.resolve()),)
    found: list[SwallowedError] = []
    for logged in ev.logged_errors:
        if logged.claimed or logged.during in REFUSALS or _refused_by_us(logged.exception):
            continue
        record = logged.record
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: what was written
            message = str(record.msg)
        fallback = f"{record.pathname}:{record.lineno} in {record.funcName}"
        exc = logged.exception
        found.append(SwallowedError(record.name, message, exc, _site(exc, prefer, fallback)))
    for bus in ev.buses:
        for failure in bus.handler_failures:
            if failure.event.source == CONTRACT_SOURCE:
                continue  # the contract's own payloads: events.handlers_robust
            code = getattr(getattr(failure.handler, "__func__", failure.handler), "__code__", None)
            fallback = f"{code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"
            exc = failure.exception
            found.append(
                SwallowedError(
                    "event bus",
                    f"handler for {failure.event.name!r} raised",
                    exc,
                    _site(exc, prefer, fallback),
                )
            )
    if found:
        return failed(
            "exceptions were logged or swallowed instead of raised:\n"
            + bullets(e.describe() for e in found)
        )
    return None


@check(
    "robustness.process_state",
    severity="error",
    description="""From its import to its last call, the plugin leaves the process it shares
    with the platform and every other plugin as it found it: the working directory, environment
    variables, sys.stdout/sys.stderr (replaced or closed), signal handlers, the recursion limit,
    gc, logging.disable, the event-loop policy, sys.modules entries of other packages (replaced
    or removed; a first import is not a change), and functions and classes of asyncio, httpx,
    nexus and the harness (replaced).""",
    fix="""Do not change process-wide state from a plugin: pass settings explicitly instead (a
    client's own options, subprocess cwd=/env=, a logger of your own), and never patch other
    packages.""",
    needs={"load"},
)
def process_state(ev: Evidence) -> Verdict | None:
    if ev.state_changes:
        return failed(
            f"{ev.file}: the plugin changed the state of the process:\n" + bullets(ev.state_changes)
        )
    return None
