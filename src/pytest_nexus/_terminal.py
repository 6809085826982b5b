"""One summary line per plugin whose contract ran as items (``--nexus-plugin``).

"55 passed" does not say that 35 of them were contract checks, nor which
failed; at the end of the run each plugin gets a line such as::

    nexus contract my_plugin: 33 passed, 1 failed (routes.get_ok), 1 warning (config.secrets)

The counts come from the contract items' reports (they carry the
``nexus_contract`` keyword; the node id is ``<plugin dir>/manifest.json::<check
id>``) and from the warnings recorded for them, so they also add up under
pytest-xdist, where reports reach the controller.  The checks over a set of
plugins (node id ``ecosystem[<dir>+<dir>]::<check id>``) get a line of their
own::

    nexus ecosystem task_manager + notifications: 4 passed, 1 warning (ecosystem.events)
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["ContractTally"]

#: Check ids listed in a summary line, per outcome; more are counted only.
_LISTED = 5


class ContractTally:
    """Outcomes of the contract items, by plugin directory and check id."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, str]] = {}
        self.warned: set[str] = set()

    def add(self, report: pytest.TestReport) -> None:
        plugin, check = _split(report.nodeid)
        checks = self.outcomes.setdefault(plugin, {})
        if report.when == "call" or report.outcome != "passed":
            # A failed setup or teardown is the check's outcome too.
            if checks.get(check) != "failed":
                checks[check] = report.outcome
        elif check not in checks:
            checks[check] = "passed"

    def lines(self) -> list[str]:
        lines = []
        for plugin, checks in self.outcomes.items():
            by_outcome: dict[str, list[str]] = {}
            for check, outcome in checks.items():
                if outcome == "passed" and f"{plugin}::{check}" in self.warned:
                    outcome = "warning"
                by_outcome.setdefault(outcome, []).append(check)
            parts = [
                _part(by_outcome.get(outcome, []), label, listed)
                for outcome, label, listed in (
                    ("passed", "passed", False),
                    ("failed", "failed", True),
                    ("warning", "warning", True),
                    ("skipped", "skipped", False),
                )
            ]
            counts = ", ".join(p for p in parts if p)
            if plugin.startswith("ecosystem[") and plugin.endswith("]"):
                members = plugin.removeprefix("ecosystem[").removesuffix("]").replace("+", " + ")
                lines.append(f"nexus ecosystem {members}: {counts}")
                continue
            name = plugin.rstrip("/").rpartition("/")[2] or plugin
            lines.append(f"nexus contract {name}: {counts}")
        return lines


def _part(checks: list[str], label: str, listed: bool) -> str:
    if not checks:
        return ""
    if label == "warning" and len(checks) > 1:
        label = "warnings"
    text = f"{len(checks)} {label}"
    if listed:
        shown = ", ".join(checks[:_LISTED])
        more = f", +{len(checks) - _LISTED} more" if len(checks) > _LISTED else ""
        text += f" ({shown}{more})"
    return text


def _split(nodeid: str) -> tuple[str, str]:
    """(plugin directory, check id) of a contract item's node id."""
    path, _, check = nodeid.partition("::")
    return path.removesuffix("manifest.json").rstrip("/") or ".", check


_TALLY = pytest.StashKey[ContractTally]()


def _tally(config: pytest.Config) -> ContractTally:
    tally = config.stash.get(_TALLY, None)
    if tally is None:
        tally = config.stash[_TALLY] = ContractTally()
    return tally


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Reporter(config), "nexus-terminal")


class _Reporter:
    """The hooks, as an object so that a run with no contract pays one check per report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "nexus_contract" in report.keywords:
            _tally(self.config).add(report)

    def pytest_warning_recorded(self, warning_message: Any, nodeid: str) -> None:
        category = getattr(warning_message, "category", None)
        if nodeid and getattr(category, "__name__", "") == "NexusContractWarning":
            plugin, check = _split(nodeid)
            _tally(self.config).warned.add(f"{plugin}::{check}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tally = self.config.stash.get(_TALLY, None)
        if tally is None or not tally.outcomes:
            return
        for line in tally.lines():
            terminalreporter.write_line(line)
