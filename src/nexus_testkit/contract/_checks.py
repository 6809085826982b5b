"""The registry of contract checks: ``@check`` declares one, beside its code.

A check is a function of the recorded :class:`~._evidence.Evidence` that
returns a :class:`Verdict` (or ``None``: passed).  Its declaration carries its
id, severity, description and fix, and the evidence it ``needs``: the names
of the probes that must have run for it to judge.  The runner runs only the
probes some wanted check needs, and a check whose evidence is missing is
skipped with the reason the evidence is missing.  ``uses`` names evidence a
check reads when it was recorded anyway, without making its probe run.

The checks live in ``contract/checks/<area>.py``; :data:`CHECKS` is their
order (the docs table and the pytest items are generated from it).  Importing
this module imports no plugin code, FastAPI or hypothesis.

Checks over a set of plugins (``ecosystem.*``, in ``checks/ecosystem.py``)
are declared with ``@set_check``: a function of the
:class:`~._ecosystem.Ecosystem` (what each plugin's own run recorded) that
returns a :class:`Verdict`.  They are :data:`ECOSYSTEM_CHECKS`, never part of
a plugin's own results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._ecosystem import Ecosystem
    from ._evidence import Evidence

__all__ = [
    "CHECKS",
    "CHECKS_BY_ID",
    "ECOSYSTEM_CHECKS",
    "ECOSYSTEM_CHECKS_BY_ID",
    "KNOWN_PERMISSIONS",
    "Check",
    "Severity",
    "Verdict",
    "check",
    "failed",
    "parse_skip",
    "passed",
    "set_check",
    "skip_for",
    "skipped",
    "unknown_skips",
    "warned",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Verdict:
    """What a check concluded: ``failed`` becomes a warning for warning-level checks.

    ``fix`` replaces the check's own fix text for this failure (a time-out is
    fixed differently from a wrong answer).
    """

    outcome: Literal["passed", "failed", "warning", "skipped"]
    message: str = ""
    fix: str | None = None


def passed(message: str = "") -> Verdict:
    return Verdict("passed", message)


def failed(message: str, fix: str | None = None) -> Verdict:
    return Verdict("failed", message, fix)


def warned(message: str, fix: str | None = None) -> Verdict:
    """A warning even from an error-level check (``events.declared`` without any events)."""
    return Verdict("warning", message, fix)


def skipped(reason: str) -> Verdict:
    return Verdict("skipped", reason)


Judge = Callable[["Evidence"], "Verdict | None"]
SetJudge = Callable[["Ecosystem"], "Verdict | None"]


@dataclass(frozen=True)
class Check:
    """One contract check.

    ``severity`` is ``error`` when a failure means the plugin is broken on the
    platform and ``warning`` when it will hurt in production.
    """

    id: str
    severity: Severity
    description: str
    fix: str
    needs: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    judge: Judge | None = field(default=None, compare=False, repr=False)
    #: The judge of a check over a set of plugins (``ecosystem.*``), instead of ``judge``.
    set_judge: SetJudge | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]


_REGISTRY: dict[str, Check] = {}


def check(
    check_id: str,
    *,
    severity: Severity,
    description: str,
    fix: str,
    needs: Iterable[str],
    uses: Iterable[str] = (),
) -> Callable[[Judge], Judge]:
    """Declare the decorated function as the check ``check_id``."""

    def register(judge: Judge) -> Judge:
        if check_id in _REGISTRY:
            raise RuntimeError(f"contract check {check_id!r} is declared twice")
        _REGISTRY[check_id] = Check(
            check_id,
            severity,
            " ".join(description.split()),
            " ".join(fix.split()),
            frozenset(needs),
            frozenset(uses),
            judge,
        )
        return judge

    return register


_SET_REGISTRY: dict[str, Check] = {}


def set_check(
    check_id: str, *, severity: Severity, description: str, fix: str
) -> Callable[[SetJudge], SetJudge]:
    """Declare the decorated function as the check over a set of plugins ``check_id``."""

    def register(judge: SetJudge) -> SetJudge:
        if check_id in _SET_REGISTRY or check_id in _REGISTRY:
            raise RuntimeError(f"contract check {check_id!r} is declared twice")
        _SET_REGISTRY[check_id] = Check(
            check_id,
            severity,
            " ".join(description.split()),
            " ".join(fix.split()),
            set_judge=judge,
        )
        return judge

    return register


#: Permission names the contract knows; others are reported as a warning.
KNOWN_PERMISSIONS = (
    "database.read",
    "database.write",
    "events.publish",
    "events.subscribe",
    "services.register",
    "services.use",
    "network.http",
    "filesystem.read",
    "filesystem.write",
)


def _load() -> tuple[Check, ...]:
    from . import checks

    checks.load()
    return tuple(_REGISTRY.values())


CHECKS: tuple[Check, ...] = _load()
CHECKS_BY_ID = {c.id: c for c in CHECKS}
#: The checks over the set of plugins given together, in the order of the report.
ECOSYSTEM_CHECKS: tuple[Check, ...] = tuple(_SET_REGISTRY.values())
ECOSYSTEM_CHECKS_BY_ID = {c.id: c for c in ECOSYSTEM_CHECKS}


def parse_skip(text: str) -> tuple[str, str] | None:
    """``"ID=REASON"`` (or ``"ID:REASON"``) as ``(id, reason)``; ``None`` without a reason.

    ``"PLUGIN:ID=REASON"`` skips the check for the plugin named ``PLUGIN``
    only (its manifest name or its directory name); the key is then
    ``"PLUGIN:ID"``.
    """
    check_id, sep, reason = text.partition("=")
    if not sep:
        check_id, sep, reason = text.partition(":")
    if not sep or not reason.strip():
        return None
    return check_id.strip(), reason.strip()


def _split(key: str) -> tuple[str | None, str]:
    plugin, sep, check_id = key.rpartition(":")
    return (plugin.strip() or None, check_id.strip()) if sep else (None, key.strip())


def unknown_skips(skip: Iterable[str]) -> list[str]:
    """The keys of ``skip`` (``ID`` or ``PLUGIN:ID``) that name no check."""
    return sorted(
        k
        for k in skip
        if _split(k)[1] not in CHECKS_BY_ID and _split(k)[1] not in ECOSYSTEM_CHECKS_BY_ID
    )


def skip_for(skip: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The skips that apply to a plugin known by ``names``: unscoped ones and its own."""
    own = set(names)
    applied: dict[str, str] = {}
    for key, reason in skip.items():
        plugin, check_id = _split(key)
        if plugin is None or plugin in own:
            applied.setdefault(check_id, reason)
    return applied
