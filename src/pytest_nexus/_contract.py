"""The contract as pytest items: one item per check per plugin.

Imported only when ``--nexus-plugin`` or the ``nexus_plugins`` ini option
names a plugin, or when a test module calls :func:`contract_tests`.  The
first item of a plugin runs the whole contract once (in its own event
loop); each item then reports its check's outcome.

Given two or more plugins, the checks over the set (``ecosystem.*``) are
items of their own, under the node ``ecosystem[<dir>+<dir>...]``: the first
of them judges the facts the plugins' own runs recorded (running a plugin's
contract first if this process has not, as under pytest-xdist).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nexus_testkit._describe import escape_control
from nexus_testkit._errors import NexusContractWarning
from nexus_testkit.contract._checks import CHECKS, ECOSYSTEM_CHECKS, Check
from nexus_testkit.contract._ecosystem import EcosystemReport, run_ecosystem
from nexus_testkit.contract._runner import CheckResult, ContractOptions, PluginReport
from nexus_testkit.isolation import (
    IsolationError,
    IsolationOptions,
    check_plugin,
    shared_pool,
    start_together,
)

from ._tracebacks import MessageRepr

__all__ = ["ContractFailure", "NexusContractWarning", "contract_items", "contract_tests"]

_reports: dict[tuple[Any, ...], PluginReport] = {}


def _fingerprint(path: Path) -> tuple[Any, ...]:
    """The plugin's files as they are now: a report of an edited plugin is not reused.

    The reports are kept per process, and a process may run several sessions
    (pytester's in-process runs, an IDE's runner) over a plugin that changed
    in between.
    """
    found = []
    for name in ("manifest.json", "plugin.py", "__init__.py"):
        try:
            st = os.stat(path / name)
        except OSError:
            continue
        found.append((name, st.st_mtime_ns, st.st_size))
    return tuple(found)


def _report(path: Path, options: ContractOptions, isolation: IsolationOptions) -> PluginReport:
    key = (
        path.resolve(),
        _fingerprint(path),
        options.timeout,
        tuple(sorted(options.skip.items())),
        options.examples,
        options.blocking_threshold,
        isolation,
        options.backend,
        options.db_url,
        options.simulate,
        options.max_task_wakeups,
    )
    report = _reports.get(key)
    if report is None:
        # process: a worker of this process's pool (one per pytest-xdist worker).
        try:
            report = check_plugin(path, options, isolation)
        except IsolationError as exc:  # the fork server, not the plugin
            report = PluginReport(
                path,
                None,
                [],
                error=f"{exc} (--nexus-isolation=inline runs the contract in the pytest process)",
            )
        _reports[key] = report
    return report


_ecosystems: dict[tuple[Any, ...], EcosystemReport] = {}


def _ecosystem(
    plugins: tuple[Path, ...], options: ContractOptions, isolation: IsolationOptions
) -> EcosystemReport:
    key = (
        tuple((p.resolve(), _fingerprint(p)) for p in plugins),
        tuple(sorted(options.skip.items())),
        isolation,
    )
    report = _ecosystems.get(key)
    if report is None:
        report = run_ecosystem(
            [_report(p, options, isolation) for p in plugins],
            options.skip,
            start=lambda: start_together(plugins, options, isolation),
        )
        _ecosystems[key] = report
    return report


def _skip(reason: str) -> None:
    __tracebackhide__ = True
    try:
        # Report the skip at the plugin's manifest, not at this line of the harness.
        skip = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # pragma: no cover - pytest without the private flag
        skip = pytest.skip.Exception(reason)
    raise skip


class ContractFailure(Exception):
    """An error-level check failed (or a warning, under ``--nexus-strict``)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        # What the plugin said cannot move the cursor or forge a line of the terminal.
        super().__init__(escape_control(message))
        self.fix = fix


def _outcome(report: PluginReport, check: Check, strict: bool) -> None:
    """Turn one check's result into a pytest outcome."""
    __tracebackhide__ = True
    if report.error is not None:
        raise ContractFailure(f"{report.path}: {report.error}")
    _result_outcome(report.result(check.id), check, f"{report.name or report.path}", strict)


def _result_outcome(result: CheckResult, check: Check, subject: str, strict: bool) -> None:
    __tracebackhide__ = True
    label = f"{subject} {check.id}"
    if result.outcome == "skipped":
        _skip(escape_control(f"{label}: {result.message}"))
    if result.outcome == "failed" or (result.outcome == "warning" and strict):
        raise ContractFailure(
            f"{label} ({check.severity}): {check.description}\n{result.message}", result.fix
        )
    if result.outcome == "warning":
        warnings.warn(
            NexusContractWarning(
                escape_control(f"{label}: {result.message}\nFix: {result.fix or check.fix}")
            ),
            stacklevel=1,
        )


class ContractItem(pytest.Item):
    """One check of one plugin."""

    def __init__(
        self,
        *,
        check: Check,
        plugin_dir: Path,
        options: ContractOptions,
        strict: bool,
        isolation: IsolationOptions,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.check = check
        self.plugin_dir = plugin_dir
        self.options = options
        self.strict = strict
        self.isolation = isolation
        self.add_marker(pytest.mark.nexus_contract)

    def runtest(self) -> None:
        report = _report(self.plugin_dir, self.options, self.isolation)
        # Shown with a failure, as pytest shows captured output.
        for stream, text in report.output.items():
            self.add_report_section("call", f"plugin {stream}", escape_control(text))
        if report.notes:
            self.add_report_section("call", "isolation", escape_control("\n".join(report.notes)))
        _outcome(report, self.check, self.strict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ContractFailure):
            fix = excinfo.value.fix or self.check.fix
            return MessageRepr(f"{excinfo.value}\nFix: {fix}", self.where)
        return super().repr_failure(excinfo, style=style)

    @property
    def where(self) -> str:
        """Where a failure is reported: the plugin's manifest."""
        return str(self.path)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # A line number (0) is required where skips are reported at the item.
        return self.path, 0, f"nexus contract {self.plugin_dir.name}: {self.check.id}"


class ContractFile(pytest.File):
    """The checks of one plugin directory (node id ``<dir>/manifest.json::<check id>``)."""

    def __init__(
        self,
        *,
        plugin_dir: Path,
        options: ContractOptions,
        strict: bool,
        isolation: IsolationOptions,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.plugin_dir = plugin_dir
        self.options = options
        self.strict = strict
        self.isolation = isolation
        # -k <plugin directory name> selects a plugin's checks.
        self.keywords[plugin_dir.name] = True

    def collect(self) -> Iterator[pytest.Item]:
        for check in CHECKS:
            yield ContractItem.from_parent(
                self,
                name=check.id,
                check=check,
                plugin_dir=self.plugin_dir,
                options=self.options,
                strict=self.strict,
                isolation=self.isolation,
            )


class EcosystemItem(ContractItem):
    """One check over the set of plugins given together (``plugin_dir`` is the first's)."""

    def __init__(self, *, plugins: tuple[Path, ...], **kw: Any) -> None:
        super().__init__(plugin_dir=plugins[0], **kw)
        self.plugins = plugins

    def runtest(self) -> None:
        report = _ecosystem(self.plugins, self.options, self.isolation)
        _result_outcome(
            report.result(self.check.id), self.check, f"ecosystem {report.label}", self.strict
        )

    @property
    def where(self) -> str:
        return self.parent.name  # type: ignore[union-attr]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"nexus {self.where}: {self.check.id}"


class EcosystemSet(pytest.Collector):
    """The checks over one set of plugins (node id ``ecosystem[<dir>+<dir>]::<check id>``)."""

    def __init__(
        self,
        *,
        plugins: tuple[Path, ...],
        options: ContractOptions,
        strict: bool,
        isolation: IsolationOptions,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.plugins = plugins
        self.options = options
        self.strict = strict
        self.isolation = isolation
        self.keywords["ecosystem"] = True

    def collect(self) -> Iterator[pytest.Item]:
        for check in ECOSYSTEM_CHECKS:
            yield EcosystemItem.from_parent(
                self,
                name=check.id,
                check=check,
                plugins=self.plugins,
                options=self.options,
                strict=self.strict,
                isolation=self.isolation,
            )


def _collected(session: pytest.Session, node: pytest.Collector) -> list[pytest.Item]:
    """The items of ``node``, through the collection hooks (the terminal counts them)."""
    collected = list(node.collect())
    for item in collected:
        assert isinstance(item, pytest.Item)
        session.config.hook.pytest_itemcollected(item=item)
    session.config.hook.pytest_collectreport(
        report=pytest.CollectReport(node.nodeid, "passed", None, list[Any](collected))
    )
    return collected  # type: ignore[return-value]


def contract_items(
    session: pytest.Session,
    plugins: list[Path],
    options: ContractOptions,
    strict: bool,
    *,
    isolation: IsolationOptions | None = None,
) -> list[pytest.Item]:
    isolation = isolation or IsolationOptions()
    if plugins and isolation.mode == "process":
        shared_pool().start()  # the fork server imports while pytest collects
    items: list[pytest.Item] = []
    for plugin_dir in plugins:
        manifest = (plugin_dir / "manifest.json").absolute()
        try:
            nodeid = manifest.relative_to(session.config.rootpath).as_posix()
        except ValueError:
            nodeid = manifest.as_posix()
        node = ContractFile.from_parent(
            session,
            path=manifest,
            nodeid=nodeid,
            plugin_dir=plugin_dir,
            options=options,
            strict=strict,
            isolation=isolation,
        )
        items.extend(_collected(session, node))
    if len(plugins) > 1:
        name = "ecosystem[" + "+".join(p.name or str(p) for p in plugins) + "]"
        ecosystem = EcosystemSet.from_parent(
            session,
            name=name,
            nodeid=name,
            plugins=tuple(plugins),
            options=options,
            strict=strict,
            isolation=isolation,
        )
        items.extend(_collected(session, ecosystem))
    return items


def contract_tests(
    plugin_dir: str | Path,
    *,
    skip: Mapping[str, str] | None = None,
    strict: bool = False,
    timeout: float = 5.0,
    examples: int = 25,
    simulate: float = 3600.0,
    isolation: str = "process",
    backend: str = "fake",
    db_url: str | None = None,
) -> type:
    """A test class running the contract against ``plugin_dir``, one test per check.

    In a plugin's own test module::

        from pytest_nexus import contract_tests

        TestContract = contract_tests("plugins/my_plugin", skip={"routes.get_ok": "needs auth"})

    A relative ``plugin_dir`` is taken from the current directory, then from
    the directory of the calling module.  ``isolation="process"`` (default)
    runs the contract in a worker process of its own; ``"inline"`` in the
    test process, for a debugger.  ``simulate`` is the simulated time, in
    seconds, the started plugin runs for (``lifecycle.background``; 0: none).
    """
    import inspect

    path = Path(plugin_dir)
    if not path.is_absolute() and not path.exists():
        caller = inspect.stack()[1].filename
        candidate = Path(caller).parent / path
        if candidate.exists():
            path = candidate
    options = ContractOptions(
        timeout=timeout,
        skip=dict(skip or {}),
        examples=examples,
        simulate=simulate,
        backend=backend,
        db_url=db_url,
    )
    isolation_options = IsolationOptions(mode=isolation)  # type: ignore[arg-type]

    @pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
    def test_contract(self: object, check: Check) -> None:
        __tracebackhide__ = True
        try:
            _outcome(_report(path, options, isolation_options), check, strict)
        except ContractFailure as exc:
            pytest.fail(f"{exc}\nFix: {exc.fix or check.fix}", pytrace=False)

    return type("NexusContract", (), {"test_contract": test_contract, "__test__": True})
