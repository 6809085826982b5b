"""The lifecycle contract: named checks of what the platform needs from a
plugin, run against any plugin directory, and its text, JSON and Markdown
reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "CHECKS": "_checks",
    "CHECKS_BY_ID": "_checks",
    "KNOWN_PERMISSIONS": "_checks",
    "Check": "_checks",
    "parse_skip": "_checks",
    "CheckResult": "_runner",
    "ContractOptions": "_runner",
    "PluginReport": "_runner",
    "run_contract": "_runner",
    "checks_markdown": "_report",
    "report_json": "_report",
    "report_schema": "_report",
    "report_text": "_report",
}
__all__ = [
    "CHECKS",
    "CHECKS_BY_ID",
    "KNOWN_PERMISSIONS",
    "Check",
    "CheckResult",
    "ContractOptions",
    "PluginReport",
    "checks_markdown",
    "parse_skip",
    "report_json",
    "report_schema",
    "report_text",
    "run_contract",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._checks import CHECKS, CHECKS_BY_ID, KNOWN_PERMISSIONS, Check, parse_skip
    from ._report import checks_markdown, report_json, report_schema, report_text
    from ._runner import CheckResult, ContractOptions, PluginReport, run_contract
