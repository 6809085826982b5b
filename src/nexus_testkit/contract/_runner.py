"""Running the contract: the wanted checks, the probes they need, and the report.

``run_contract(path)`` runs every check of :data:`~._checks.CHECKS` against
one plugin directory and returns a :class:`PluginReport`.  It never raises
for a broken plugin: a manifest that does not parse, a plugin.py that raises
SystemExit, an initialize() that hangs are each reported as the checks they
break, and checks whose evidence could not be recorded are skipped with the
reason, so a plugin that hangs costs one time-out, not one per check.

The run has two halves.  The probes (:mod:`._probes`) drive the plugin and
record :class:`~._evidence.Evidence`; only the probes some wanted check
``needs`` run, so skipping a check never runs a probe only it needs.  Then
each check judges the evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._describe import describe_exception
from .._errors import NexusOptionsError
from .._interrupts import watching_ctrl_c
from .._settings import DEFAULT_SIMULATE
from ..backends import check_backend
from ..host._options import check_positive
from ._checks import (
    CHECKS,
    CHECKS_BY_ID,
    ECOSYSTEM_CHECKS_BY_ID,
    Check,
    Verdict,
    skip_for,
    unknown_skips,
)
from ._evidence import Evidence
from ._exercise import walk_routes as _walk_routes  # noqa: F401 - tests/test_host.py uses it
from ._leaks import watching_leaks
from ._probes import PROBES, HostSettings, Session, probe_of
from .checks._util import bullets as _bullets  # noqa: F401 - tests/test_output.py uses it

if TYPE_CHECKING:
    from ._ecosystem import PluginFacts

__all__ = ["CheckResult", "ContractOptions", "Outcome", "PluginReport", "run_contract"]

Outcome = Literal["passed", "failed", "warning", "skipped"]


@dataclass(frozen=True)
class ContractOptions:
    """How the contract runs.

    ``skip`` maps check ids to the reason they are skipped (a reason is
    required: opt-outs are visible in every report).  ``examples`` bounds the
    number of invalid configurations tried.  ``simulate`` is the simulated
    time, in seconds, the plugin runs after ``initialize()`` under the
    default configuration (``lifecycle.background``; 0: none), and
    ``max_task_wakeups`` the timer wake-ups each task gets in it, after which
    the task sleeps through the rest.
    """

    timeout: float = 5.0
    skip: Mapping[str, str] = field(default_factory=dict)
    examples: int = 25
    blocking_threshold: float = 0.2
    backend: str = "fake"
    db_url: str | None = None
    simulate: float = DEFAULT_SIMULATE
    max_task_wakeups: int = 1000

    def __post_init__(self) -> None:
        check_backend(self.backend)
        unknown = unknown_skips(self.skip)
        if unknown:
            raise NexusOptionsError(
                f"{', '.join(map(repr, unknown))} is not a contract check. Valid checks: "
                f"{', '.join([*CHECKS_BY_ID, *ECOSYSTEM_CHECKS_BY_ID])}."
            )
        missing = [
            cid
            for cid, reason in self.skip.items()
            if not isinstance(reason, str) or not reason.strip()
        ]
        if missing:
            raise NexusOptionsError(f"skipping a check needs a reason: {', '.join(missing)}")
        check_positive("timeout", self.timeout)
        check_positive("blocking_threshold", self.blocking_threshold)
        simulate = self.simulate
        if (
            isinstance(simulate, bool)
            or not isinstance(simulate, (int, float))
            or not 0 <= simulate < float("inf")
        ):
            raise NexusOptionsError(
                f"simulate={simulate!r} is not valid. Valid values: a number of seconds from 0 "
                "(0: no simulated time)."
            )
        for name in ("max_task_wakeups",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NexusOptionsError(
                    f"{name}={value!r} is not valid. Valid values: a whole number from 1."
                )
        if (
            isinstance(self.examples, bool)
            or not isinstance(self.examples, int)
            or self.examples < 1
        ):
            raise NexusOptionsError(
                f"examples={self.examples!r} is not valid. Valid values: a whole number from 1."
            )


@dataclass
class CheckResult:
    """The outcome of one check for one plugin."""

    check: str
    severity: str
    outcome: Outcome
    message: str = ""
    #: How to fix this failure, when it differs from the check's own fix (a time-out).
    fix: str | None = None

    def to_json(self) -> dict[str, str]:
        document = {
            "check": self.check,
            "severity": self.severity,
            "outcome": self.outcome,
            "message": self.message,
        }
        if self.fix:
            document["fix"] = self.fix
        return document

    @classmethod
    def from_json(cls, document: Any) -> CheckResult:
        """The inverse of :meth:`to_json`; ValueError for anything else."""
        required = {"check", "severity", "outcome", "message"}
        if not isinstance(document, dict) or not required <= set(document) <= required | {"fix"}:
            raise ValueError(f"not a check result: {document!r:.200}")
        if not all(isinstance(v, str) for v in document.values()) or document["outcome"] not in (
            "passed",
            "failed",
            "warning",
            "skipped",
        ):
            raise ValueError(f"not a check result: {document!r:.200}")
        return cls(
            document["check"],
            document["severity"],
            document["outcome"],
            document["message"],
            document.get("fix"),
        )


@dataclass
class PluginReport:
    """Every check's result for one plugin directory, in the order of :data:`CHECKS`."""

    path: Path
    name: str | None
    results: list[CheckResult]
    duration: float = 0.0
    #: Set when the contract run itself could not finish (a harness failure).
    error: str | None = None
    #: What the plugin wrote to ``"stdout"`` / ``"stderr"`` in its worker process
    #: (capped, masked); empty when it wrote nothing or ran inline.
    output: dict[str, str] = field(default_factory=dict)
    #: What the isolation did besides the checks (processes killed, output cut).
    notes: list[str] = field(default_factory=list)
    #: What the run recorded for the checks over a set of plugins (``ecosystem.*``);
    #: not part of :meth:`to_json` (the worker sends it beside the report).
    facts: PluginFacts | None = None

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.check == check_id:
                return r
        raise KeyError(check_id)

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "warning"]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "skipped"]

    def ok(self, *, strict: bool = False) -> bool:
        return self.error is None and not self.errors and not (strict and self.warnings)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "path": str(self.path),
            "name": self.name,
            "results": [r.to_json() for r in self.results],
        }
        if self.error is not None:
            document["error"] = self.error
        if self.output:
            document["output"] = dict(self.output)
        if self.notes:
            document["notes"] = list(self.notes)
        return document

    @classmethod
    def from_json(cls, document: Any, *, duration: float = 0.0) -> PluginReport:
        """The inverse of :meth:`to_json` (the duration is not in the JSON); ValueError
        for a document that is not one."""
        if not isinstance(document, dict) or not isinstance(document.get("results"), list):
            raise ValueError("not a plugin report")
        path, name, error = document.get("path"), document.get("name"), document.get("error")
        output, notes = document.get("output", {}), document.get("notes", [])
        if (
            not isinstance(path, str)
            or not isinstance(name, (str, type(None)))
            or not isinstance(error, (str, type(None)))
            or not isinstance(output, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in output.items())
            or not isinstance(notes, list)
            or not all(isinstance(n, str) for n in notes)
        ):
            raise ValueError("not a plugin report")
        results = [CheckResult.from_json(r) for r in document["results"]]
        return cls(Path(path), name, results, duration, error, dict(output), list(notes))


async def run_contract(path: Path | str, options: ContractOptions | None = None) -> PluginReport:
    """Run every contract check against the plugin in ``path``.

    Never raises for a broken plugin.  Should the run itself fail (a bug of
    the harness), the checks judged so far are kept, the others are
    skipped, and ``report.error`` says what happened.
    """
    options = options or ContractOptions()
    path = Path(path)
    directory = path.parent if path.name == "manifest.json" else path
    # Skips scoped to a plugin ("my_plugin:routes.get_ok") apply by directory
    # name before the manifest is read, and by manifest name after.
    skip = skip_for(options.skip, {directory.name, _manifest_name(directory)})
    wanted = [c for c in CHECKS if c.id not in skip]
    session = Session(
        directory,
        HostSettings(
            options.timeout,
            options.examples,
            options.blocking_threshold,
            options.backend,
            options.db_url,
            options.simulate,
            options.max_task_wakeups,
        ),
        needed_probes(wanted),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = None
    try:
        # A KeyboardInterrupt of the plugin's is told from the user's Ctrl-C for the whole run.
        with watching_ctrl_c(), watching_leaks(session.ev):
            await session.run()
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise
    except BaseException as exc:
        error = f"the contract run stopped: {describe_exception(exc)}"
    ev = session.ev
    results = [_result(c, ev, skip, stopped=error is not None) for c in CHECKS]
    name = ev.manifest.name if ev.manifest is not None else None
    report = PluginReport(directory, name, results)
    report.facts = _facts(ev)
    if ev.processes_left:
        report.notes.append(
            "processes the plugin left running, killed when its contract ended:\n"
            + "\n".join(f"- {ev.masker(p)}" for p in ev.processes_left)
        )
    report.error = error and ev.masker(error)
    report.duration = loop.time() - started
    return report


def _facts(ev: Evidence) -> PluginFacts | None:
    from ._ecosystem import facts_of

    try:
        return facts_of(ev)
    except Exception:  # a bug of ours; the set checks fall back to the manifest
        return None


def _manifest_name(directory: Path) -> str:
    import json

    try:
        name = json.loads((directory / "manifest.json").read_text()).get("name")
    except Exception:  # any manifest the manifest checks will report on (even nested too deeply)
        return directory.name
    return name if isinstance(name, str) else directory.name


def needed_probes(checks: list[Check]) -> set[str]:
    """The probes the ``checks`` need, and the probes those need in turn."""
    todo = [probe_of(e) for c in checks for e in c.needs]
    needed: set[str] = set()
    while todo:
        probe = todo.pop()
        if probe in needed:
            continue
        needed.add(probe)
        todo.extend(probe_of(e) for e in PROBES[probe])
    return needed


def _result(check: Check, ev: Evidence, skip: Mapping[str, str], *, stopped: bool) -> CheckResult:
    if check.id in skip:
        return CheckResult(
            check.id, check.severity, "skipped", f"skipped by the user: {skip[check.id]}"
        )
    verdict = _judge(check, ev, stopped)
    outcome = verdict.outcome
    if outcome == "failed" and check.severity == "warning":
        outcome = "warning"
    fix = verdict.fix if verdict.fix and verdict.fix != check.fix else None
    return CheckResult(check.id, check.severity, outcome, ev.masker(verdict.message), fix)


def _judge(check: Check, ev: Evidence, stopped: bool) -> Verdict:
    for evidence in sorted(check.needs, key=_depth, reverse=True):
        if evidence in ev.missing:
            return Verdict("skipped", ev.missing[evidence])
    for evidence in check.needs:
        if probe_of(evidence) not in ev.done:
            why = "the contract run stopped before" if stopped else "the run did not reach"
            return Verdict("skipped", f"{why} what this check needs ({evidence})")
    assert check.judge is not None
    try:
        verdict = check.judge(ev)
    except Exception as exc:  # a bug of the check: reported, the other checks still judge
        return Verdict(
            "skipped", f"the check could not judge the evidence: {describe_exception(exc)}"
        )
    return verdict if verdict is not None else Verdict("passed")


def _depth(evidence: str) -> int:
    """How far down the probe order ``evidence`` lies: its most specific reason wins."""
    order = list(PROBES)
    return order.index(probe_of(evidence))
