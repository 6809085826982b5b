"""``ecosystem.start``'s evidence: the plugins of a set started together in one host.

The other ``ecosystem.*`` checks judge what each plugin's own run recorded;
this one needs the plugins side by side: :func:`run_together` builds one
``PluginHost([...])`` over the set (one bus, one registry, one store, each
plugin configured as its own contract run configures it), starts it in
dependency order, shuts it down in reverse order and reports what went wrong
as the result of ``ecosystem.start``.  It runs in a worker process of its
own like a plugin's contract (``isolation``), so a set that hangs or kills
its process fails this check, not the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._runner import CheckResult, ContractOptions, PluginReport

__all__ = ["START_CHECK", "run_together", "together_report"]

START_CHECK = "ecosystem.start"


def together_report(directory: Path, outcome: str, message: str) -> PluginReport:
    """The carrier of the result: a report whose only result is ``ecosystem.start``."""
    from ._checks import ECOSYSTEM_CHECKS_BY_ID

    check = ECOSYSTEM_CHECKS_BY_ID[START_CHECK]
    result = CheckResult(START_CHECK, check.severity, outcome, message)  # type: ignore[arg-type]
    return PluginReport(directory, START_CHECK, [result])


async def run_together(
    paths: Sequence[Path | str], options: ContractOptions | None = None
) -> PluginReport:
    """Start the plugins of ``paths`` in one host, stop them, and report on it.

    Never raises for broken plugins: a start that fails, an error at shutdown,
    a task or a subscription left behind, a handler that raised while the set
    ran, each is a line of the failed result.
    """
    from .._errors import ManifestError, NexusTestkitError, PluginDependencyError
    from .._masking import Masker
    from ..host._blocking import BlockingMonitor
    from ..host._group import PluginGroup
    from ..host._options import HostOptions
    from ._probes import HostSettings, Session

    options = options or ContractOptions()
    directories = [Path(p).parent if Path(p).name == "manifest.json" else Path(p) for p in paths]
    settings = HostSettings(
        options.timeout, options.examples, options.blocking_threshold, options.backend, None
    )
    # Each plugin configured as its own contract run configures it (secrets get values).
    configs = {}
    masker = Masker()
    for directory in directories:
        session = Session(directory, settings, set())
        session.probe_manifest()
        if session.ev.manifest is None:
            return together_report(
                directories[0], "skipped", f"{directory}: the manifest does not load"
            )
        configs[session.ev.manifest.name] = session.ev.valid_config
        masker.add(session.ev.secret_values.values())
    host_options = HostOptions(
        timeout=options.timeout,
        raise_app_exceptions=False,
        allow_handler_errors=True,
        backend=options.backend,
        db_url=options.db_url,
    )
    try:
        host = PluginGroup(directories, host_options, config=configs)
    except (PluginDependencyError, ManifestError) as exc:
        return together_report(directories[0], "skipped", f"the set cannot start: {exc}")
    order = " -> ".join(host.names)
    # The label of the calls into the plugins (in a worker: the stage its death is told in).
    label = BlockingMonitor(options.blocking_threshold)
    label.during = f"the start of the set ({order})"
    try:
        await host.start()
    except NexusTestkitError as exc:  # PluginStartError, PluginLoadError
        return together_report(
            directories[0],
            "failed",
            masker(f"the plugins did not start together (in the order {order}):\n{exc}"),
        )
    label.during = f"the shutdown of the set ({order})"
    await host.aclose()
    label.during = ""
    problems = []
    for name, member in host.members.items():
        left = member.leftovers
        problems += [f"{name}: {e}" for e in left.shutdown_errors]
        problems += [f"{name}: left a task running: {t.describe()}" for t in left.tasks]
        problems += [f"{name}: left {e!r} subscribed: {h}" for e, h in left.subscriptions]
    problems += [
        f"a task no plugin owns was left running: {t.describe()}" for t in host.leftovers.tasks
    ]
    for failure in host.event_bus.handler_failures:
        problems.append(
            f"a handler raised on {failure.event.name!r} (from {failure.event.source}): "
            f"{type(failure.exception).__name__}: {failure.exception}"
        )
    if problems:
        from .checks._util import bullets

        return together_report(
            directories[0],
            "failed",
            masker(
                f"the plugins started together (in the order {order}), but:\n" + bullets(problems)
            ),
        )
    return together_report(directories[0], "passed", f"started in the order {order}")
