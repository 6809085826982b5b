"""The contract over a set of plugins: what each plugin's own run recorded, judged together.

Each plugin of a set is checked alone first, in its own worker process, as
when it is given alone.  That run also keeps :class:`PluginFacts`: the
manifest's identity, dependencies and declared events, and what the plugin
was seen doing (events published and subscribed, services registered and
looked up, where it is mounted).  The facts travel back with the plugin's
report (as JSON: the worker is a process the plugin controlled), and
:func:`run_ecosystem` judges the set with the ``ecosystem.*`` checks of
``checks/ecosystem.py``, which read only the facts.  Their results are an
:class:`EcosystemReport`, never part of any one plugin's results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._checks import ECOSYSTEM_CHECKS, Check, Verdict

if TYPE_CHECKING:
    from ._evidence import Evidence
    from ._runner import CheckResult, PluginReport

__all__ = [
    "Ecosystem",
    "EcosystemReport",
    "PluginFacts",
    "facts_from_manifest",
    "facts_of",
    "run_ecosystem",
]


def _names(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values}))


@dataclass(frozen=True)
class PluginFacts:
    """What one plugin's contract run recorded that the checks over a set read.

    ``problem`` says why facts are missing (the manifest does not parse); a
    plugin without a ``name`` is left out of the set checks, which say so.
    """

    path: str
    manifest: str
    name: str | None = None
    category: str | None = None
    #: The instance's own ``name`` attribute, when plugin.py loaded.
    instance_name: str | None = None
    prefix: str | None = None
    #: (method, path) of every route the plugin serves, mounted.
    routes: tuple[tuple[str, str], ...] = ()
    #: The plugins the manifest depends on (list or map form), by name or ``category.name``.
    dependencies: tuple[str, ...] = ()
    #: Declared in the manifest or seen published by the plugin.
    publishes: tuple[str, ...] = ()
    #: Declared in the manifest or seen subscribed by the plugin.
    subscribes: tuple[str, ...] = ()
    #: Subscribed events the manifest declares as coming from outside the set.
    external: tuple[str, ...] = ()
    #: Service names the plugin registered.
    registers: tuple[str, ...] = ()
    #: Service names the plugin looked up (``get_service``), other than its own.
    looks_up: tuple[str, ...] = ()
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Any) -> PluginFacts:
        """The inverse of :meth:`to_json`; ValueError for anything else (the worker wrote it)."""
        if not isinstance(document, dict):
            raise ValueError("not plugin facts")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in document.items():
            if key not in known:
                raise ValueError(f"not plugin facts: unknown field {key!r}")
            if key == "routes":
                if not isinstance(value, list) or not all(
                    isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                    for r in value
                ):
                    raise ValueError("not plugin facts: routes")
                values[key] = tuple((m, p) for m, p in value)
            elif isinstance(value, list):
                if not all(isinstance(x, str) for x in value):
                    raise ValueError(f"not plugin facts: {key}")
                values[key] = tuple(value)
            elif value is None or isinstance(value, str):
                values[key] = value
            else:
                raise ValueError(f"not plugin facts: {key}")
        if not isinstance(values.get("path"), str) or not isinstance(values.get("manifest"), str):
            raise ValueError("not plugin facts: path and manifest are required")
        return cls(**values)

    @property
    def label(self) -> str:
        """How messages name the plugin: its name and manifest."""
        return f"{self.name or '?'} ({self.manifest})"

    @property
    def ids(self) -> tuple[str, ...]:
        """The names a dependency may use for this plugin: its name and ``category.name``."""
        if self.name is None:
            return ()
        return (self.name, f"{self.category}.{self.name}") if self.category else (self.name,)


def facts_of(ev: Evidence) -> PluginFacts:
    """The facts of a finished contract run."""
    from ..manifest._dependencies import declared_dependencies
    from ._probes import CONTRACT_SOURCE

    directory = ev.directory
    manifest_file = str(directory / "manifest.json")
    manifest = ev.manifest
    if manifest is None:
        problem = (
            "its manifest.json does not parse"
            if ev.manifest_error is not None
            else "it has no manifest.json"
        )
        return PluginFacts(str(directory), manifest_file, problem=problem)
    instance = ev.loaded.instance if ev.loaded is not None else None
    instance_name = getattr(instance, "name", None)
    registered = {
        c.name for registry in ev.registries for c in registry.calls if c.op == "register"
    }
    looked_up = {name for registry in ev.registries for name in registry.lookups}
    events = manifest.events
    return PluginFacts(
        path=str(directory),
        manifest=manifest_file,
        name=manifest.name,
        category=manifest.category,
        instance_name=instance_name if isinstance(instance_name, str) else None,
        prefix=ev.prefix or f"/api/plugins/{manifest.name}",
        routes=tuple(sorted(set(ev.routes))),
        dependencies=declared_dependencies(manifest),
        publishes=_names([*events.publishes, *(e.name for e in ev.published(CONTRACT_SOURCE))]),
        subscribes=_names([*events.subscribes, *(s.event_name for s in ev.subscribed())]),
        external=_names(events.external),
        registers=_names(registered),
        looks_up=_names(looked_up - registered),
    )


def facts_from_manifest(directory: Path) -> PluginFacts:
    """What the manifest alone says, for a plugin whose worker sent no facts (it died)."""
    from .._errors import ManifestError
    from ..manifest._dependencies import declared_dependencies
    from ..manifest._load import load_manifest

    manifest_file = directory / "manifest.json"
    try:
        manifest = load_manifest(manifest_file)
    except ManifestError:
        return PluginFacts(
            str(directory), str(manifest_file), problem="its manifest.json does not load"
        )
    except Exception as exc:  # a manifest the manifest checks report on (nested too deeply)
        return PluginFacts(
            str(directory), str(manifest_file), problem=f"its manifest.json does not load ({exc})"
        )
    events = manifest.events
    return PluginFacts(
        path=str(directory),
        manifest=str(manifest_file),
        name=manifest.name,
        category=manifest.category,
        prefix=f"/api/plugins/{manifest.name}",
        dependencies=declared_dependencies(manifest),
        publishes=_names(events.publishes),
        subscribes=_names(events.subscribes),
        external=_names(events.external),
        problem="its contract run ended early: only its manifest was read",
    )


@dataclass
class Ecosystem:
    """The plugins of a set, as the ``ecosystem.*`` checks see them."""

    plugins: list[PluginFacts]
    #: Plugins of the set left out of the checks, each with the reason.
    left_out: list[PluginFacts] = field(default_factory=list)
    #: The result of starting the set together (``_together``), for ``ecosystem.start``.
    together: CheckResult | None = None

    @classmethod
    def of(cls, facts: Sequence[PluginFacts]) -> Ecosystem:
        return cls([f for f in facts if f.name is not None], [f for f in facts if f.name is None])

    def named(self, ident: str) -> list[PluginFacts]:
        """The plugins a dependency on ``ident`` (a name or ``category.name``) means."""
        return [p for p in self.plugins if ident in p.ids]

    @property
    def names(self) -> set[str]:
        return {p.name for p in self.plugins if p.name is not None}

    def requires(self, plugin: PluginFacts) -> set[str]:
        """The names of the plugins ``plugin`` depends on, directly or through others."""
        seen: set[str] = set()
        todo = list(plugin.dependencies)
        while todo:
            for other in self.named(todo.pop()):
                if other.name is not None and other.name not in seen:
                    seen.add(other.name)
                    todo.extend(other.dependencies)
        return seen

    def manifests(self) -> list[Any]:
        """The plugins as :class:`~nexus_testkit.manifest.Manifest` objects holding what the
        dependency order reads (name, category, dependencies), built from the facts."""
        from ..manifest._load import Manifest

        return [
            Manifest(
                path=Path(p.manifest),
                raw={"dependencies": list(p.dependencies)},
                name=str(p.name),
                category=p.category,
                dependencies=p.dependencies,
            )
            for p in self.plugins
        ]

    def note(self) -> str:
        """A line naming the plugins left out, for the end of a message (empty without any)."""
        if not self.left_out:
            return ""
        return "\nleft out of this check:\n" + "\n".join(
            f"- {p.manifest}: {p.problem}" for p in self.left_out
        )


@dataclass
class EcosystemReport:
    """The ``ecosystem.*`` results of one set of plugins (in the order of ECOSYSTEM_CHECKS)."""

    paths: list[Path]
    names: list[str | None]
    results: list[CheckResult]
    duration: float = 0.0

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.check == check_id:
                return r
        raise KeyError(check_id)

    @property
    def label(self) -> str:
        """The set as ``a + b`` (names, else directory names)."""
        return " + ".join(n or p.name for n, p in zip(self.names, self.paths, strict=True))

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "warning"]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def to_json(self) -> dict[str, Any]:
        return {
            "plugins": [str(p) for p in self.paths],
            "results": [r.to_json() for r in self.results],
        }


def run_ecosystem(
    reports: Sequence[PluginReport],
    skip: Mapping[str, str] | None = None,
    start: Callable[[], PluginReport] | None = None,
) -> EcosystemReport:
    """Judge the set of ``reports`` with every ``ecosystem.*`` check.

    ``skip`` maps check ids to the reason (scoped ``PLUGIN:ID`` keys do not
    apply: the checks are the set's).  ``start`` starts the set together
    (:func:`~._together.run_together`, in a worker process) for
    ``ecosystem.start``; it is called only when that check is wanted and the
    dependencies and names allow a start.  Never raises: a check that cannot
    judge is skipped with the reason.
    """
    from ._runner import CheckResult

    started = time.monotonic()
    skip = {k: v for k, v in (skip or {}).items() if ":" not in k}
    facts = [r.facts or facts_from_manifest(r.path) for r in reports]
    ecosystem = Ecosystem.of(facts)
    results: list[CheckResult] = []
    for check in ECOSYSTEM_CHECKS:
        if check.id in skip:
            results.append(
                CheckResult(
                    check.id, check.severity, "skipped", f"skipped by the user: {skip[check.id]}"
                )
            )
            continue
        if check.id == "ecosystem.start":
            ecosystem.together = _together(results, reports, start)
        verdict = _judge(check, ecosystem)
        outcome = verdict.outcome
        if outcome == "failed" and check.severity == "warning":
            outcome = "warning"
        fix = verdict.fix if verdict.fix and verdict.fix != check.fix else None
        results.append(CheckResult(check.id, check.severity, outcome, verdict.message, fix))
    return EcosystemReport(
        [r.path for r in reports],
        [r.name for r in reports],
        results,
        time.monotonic() - started,
    )


#: A plugin failing one of these alone cannot start with others either (its own report says why).
_STARTS_ALONE = ("load.import", "load.instance", "load.interface", "lifecycle.initialize")


def _together(
    results: Sequence[CheckResult],
    reports: Sequence[PluginReport],
    start: Callable[[], PluginReport] | None,
) -> CheckResult | None:
    """The set started together, unless what a start needs already failed."""
    from ._runner import CheckResult

    blocking = [r.check for r in results if r.outcome == "failed"]
    blocking = [c for c in blocking if c in ("ecosystem.dependencies", "ecosystem.names")]
    if blocking:
        return CheckResult(
            "ecosystem.start",
            "error",
            "skipped",
            f"the plugins cannot start together while {' and '.join(blocking)} fails",
        )
    alone = [
        f"{r.name or r.path} fails {result.check}"
        for r in reports
        for result in r.results
        if result.check in _STARTS_ALONE and result.outcome == "failed"
    ]
    alone += [f"{r.name or r.path}'s contract run stopped" for r in reports if r.error]
    if alone:
        return CheckResult(
            "ecosystem.start",
            "error",
            "skipped",
            "the plugins cannot start together while a plugin cannot start alone: "
            + "; ".join(alone),
        )
    if start is None:
        return None
    from .._errors import NexusTestkitError

    try:
        report = start()
    except NexusTestkitError as exc:  # IsolationError: the fork server, not the plugins
        return CheckResult("ecosystem.start", "error", "skipped", f"not run: {exc}")
    for result in report.results:
        if result.check == "ecosystem.start":
            return result
    # A worker that died reports the stage it died in (see isolation): that is the start.
    failed = next((r for r in report.results if r.outcome == "failed"), None)
    message = failed.message if failed is not None else report.error or "no result came back"
    return CheckResult("ecosystem.start", "error", "failed", message)


def _judge(check: Check, ecosystem: Ecosystem) -> Verdict:
    assert check.set_judge is not None
    if not ecosystem.plugins:
        return Verdict("skipped", "no plugin of the set has a manifest to judge" + ecosystem.note())
    try:
        verdict = check.set_judge(ecosystem)
    except Exception as exc:  # a bug of the check: reported, the other checks still judge
        return Verdict(
            "skipped", f"the check could not judge the evidence: {type(exc).__name__}: {exc}"
        )
    if verdict is None:
        return Verdict("passed", ecosystem.note().lstrip("\n"))
    if verdict.outcome in ("failed", "warning") and ecosystem.left_out:
        return Verdict(verdict.outcome, verdict.message + ecosystem.note(), verdict.fix)
    return verdict
