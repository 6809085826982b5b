"""Checks over a set of plugins given together (``ecosystem.*``).

Each is a function of the :class:`~.._ecosystem.Ecosystem`: the facts every
plugin's own contract run recorded.  They run only when two or more plugins
are given, and their results are the set's, never one plugin's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from .._checks import Verdict, failed, passed, set_check, skipped
from ._util import bullets

if TYPE_CHECKING:  # _ecosystem reads the registry this module fills
    from .._ecosystem import Ecosystem, PluginFacts


def _given(ecosystem: Ecosystem) -> str:
    return ", ".join(sorted(ecosystem.names))


@set_check(
    "ecosystem.dependencies",
    severity="error",
    description="""Every plugin a manifest lists under dependencies (list or map form) is one of
    the plugins given, and the dependencies form no cycle, so the set can start in dependency
    order.""",
    fix="""Give the missing plugin too (another --nexus-plugin / directory), or remove it from
    dependencies; break a cycle by moving what both need into one of them.""",
)
def dependencies(ecosystem: Ecosystem) -> Verdict | None:
    from ..._errors import PluginDependencyError
    from ...manifest._dependencies import dependency_order

    try:
        dependency_order(ecosystem.manifests())
    except PluginDependencyError as exc:
        # Its last line tells a host's user what to do; the check's fix says it here.
        return failed(str(exc).rsplit("\n", 1)[0])
    return None


@set_check(
    "ecosystem.events",
    severity="warning",
    description="""Every event a plugin subscribes to (declared or seen subscribed) is published
    by a plugin of the set (declared or seen published), or its manifest declares it in
    events.external.""",
    fix="""Give the plugin that publishes the event too; for an event that comes from outside the
    plugins (the platform core, another system), list it in the subscriber's events.external;
    otherwise correct the event name.""",
)
def events(ecosystem: Ecosystem) -> Verdict | None:
    published = {e for p in ecosystem.plugins for e in p.publishes}
    unheard = [
        f"{p.label} subscribes to {event!r}"
        for p in ecosystem.plugins
        for event in p.subscribes
        if event not in published and event not in p.external
    ]
    if unheard:
        return failed(
            f"events subscribed to that no plugin of the set ({_given(ecosystem)}) publishes "
            f"and no manifest declares in events.external:\n{bullets(unheard)}"
        )
    return None


@set_check(
    "ecosystem.services",
    severity="error",
    description="""Every service a plugin looks up (get_service) is registered by a plugin it
    depends on (directly or through its dependencies), which the platform starts before it.""",
    fix="""Add the plugin registering the service to the manifest's dependencies, or give it too;
    a service no plugin registers is a wrong name or a plugin missing from the set.""",
)
def services(ecosystem: Ecosystem) -> Verdict | None:
    registrars: dict[str, list[PluginFacts]] = defaultdict(list)
    for p in ecosystem.plugins:
        for name in p.registers:
            registrars[name].append(p)
    problems = []
    for p in ecosystem.plugins:
        required = ecosystem.requires(p)
        for service in p.looks_up:
            by = registrars.get(service, [])
            if not by:
                problems.append(f"{p.label} looks up {service!r}, which no plugin registers")
            elif not any(r.name in required for r in by):
                names = ", ".join(sorted({str(r.name) for r in by}))
                problems.append(
                    f"{p.label} looks up {service!r}, registered by {names}, which is not "
                    "among its dependencies (the platform may start it first)"
                )
    if problems:
        return failed(
            f"services looked up that no dependency of the plugin registers (the set: "
            f"{_given(ecosystem)}):\n{bullets(problems)}"
        )
    return None


@set_check(
    "ecosystem.names",
    severity="error",
    description="""No two plugins claim the same name (manifest or instance), mount prefix or
    route: the platform keeps one plugin per name and one handler per route.""",
    fix="""Rename one of the plugins (its manifest name, self.name and directory together), or
    give only one of them.""",
)
def names(ecosystem: Ecosystem) -> Verdict | None:
    claims: dict[str, list[PluginFacts]] = defaultdict(list)
    for p in ecosystem.plugins:
        claimed = {f"the name {p.name!r}", f"the mount prefix {p.prefix}"}
        if p.instance_name is not None:
            claimed.add(f"the name {p.instance_name!r}")
        claimed.update(f"the route {method} {path}" for method, path in p.routes)
        for claim in claimed:
            claims[claim].append(p)
    clashes = [
        f"{claim} is claimed by {' and '.join(p.manifest for p in plugins)}"
        for claim, plugins in sorted(claims.items(), key=lambda kv: _order(kv[0]))
        if len(plugins) > 1
    ]
    if clashes:
        return failed(f"plugins of the set claim the same names:\n{bullets(clashes)}")
    return None


def _order(claim: str) -> tuple[int, str]:
    """Names first, then prefixes, then routes."""
    kinds = ("the name", "the mount prefix", "the route")
    return next(i for i, k in enumerate(kinds) if claim.startswith(k)), claim


@set_check(
    "ecosystem.start",
    severity="error",
    description="""The plugins start together in one host (one bus, registry and store) in
    dependency order, and shut down in reverse order without an error, a task or a subscription
    left behind, and without a handler raising on another plugin's event.""",
    fix="""Look at the first plugin named: a dependency's service or event that is not what it
    expects (PluginHost([...]) in a test reproduces the set), or a shutdown that leaves work
    behind.""",
)
def start(ecosystem: Ecosystem) -> Verdict | None:
    result = ecosystem.together
    if result is None:
        return skipped("the plugins were not started together (no worker to start them in)")
    if result.outcome == "passed":
        return passed(result.message)
    if result.outcome == "skipped":
        return skipped(result.message)
    return failed(result.message)
