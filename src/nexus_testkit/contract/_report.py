"""Rendering contract reports: text for people, JSON for machines, Markdown for the docs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._describe import escape_control
from ._checks import CHECKS, ECOSYSTEM_CHECKS, Check
from ._runner import CheckResult, PluginReport

if TYPE_CHECKING:
    from ._ecosystem import EcosystemReport

__all__ = [
    "checks_markdown",
    "ecosystem_markdown",
    "report_json",
    "report_schema",
    "report_text",
]

_LABELS = {"failed": "FAILED ", "warning": "WARNING", "skipped": "SKIPPED", "passed": "passed "}


def _indent(text: str, prefix: str) -> str:
    lines = text.splitlines() or [""]
    return lines[0] + "".join(f"\n{prefix}{line}" for line in lines[1:])


def _head(label: str, results: Sequence[CheckResult], duration: float) -> str:
    counts = {o: sum(r.outcome == o for r in results) for o in _LABELS}
    return escape_control(
        f"{label}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['warning']} warnings, {counts['skipped']} skipped in {duration:.2f} s"
    )


def _result_lines(results: Sequence[CheckResult], verbose: bool) -> list[str]:
    lines = []
    for result in results:
        if result.outcome == "passed" and not verbose:
            continue
        label = _LABELS[result.outcome]
        text = f"{result.check}: {result.message}" if result.message else result.check
        if result.fix and result.outcome in ("failed", "warning"):
            text += f"\nFix: {result.fix}"
        # What the plugin said cannot move the cursor or forge a line of the report.
        lines.append(f"  {label} {_indent(escape_control(text), ' ' * 11)}")
    return lines


def report_text(
    reports: Sequence[PluginReport],
    *,
    verbose: bool = False,
    ecosystem: EcosystemReport | None = None,
) -> str:
    """One block per plugin: a summary line, then every check that did not pass.

    Skipped checks are always listed with their reason, so an opt-out is
    visible wherever the report is read.  ``ecosystem``, the checks over the
    set, is a block of its own at the end (``ecosystem a + b: ...``).
    """
    blocks = []
    for report in reports:
        lines = [_head(f"{report.name or '?'} ({report.path})", report.results, report.duration)]
        lines.extend(_result_lines(report.results, verbose))
        lines.extend(f"  note: {_indent(escape_control(note), ' ' * 8)}" for note in report.notes)
        for stream, text in report.output.items():
            lines.append(f"  {stream} of the plugin:")
            lines.extend(f"    | {line}" for line in escape_control(text).splitlines())
        blocks.append("\n".join(lines))
    if ecosystem is not None:
        lines = [_head(f"ecosystem {ecosystem.label}", ecosystem.results, ecosystem.duration)]
        lines.extend(_result_lines(ecosystem.results, verbose))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def report_json(
    reports: Sequence[PluginReport],
    errors: Sequence[dict[str, Any]] = (),
    ecosystem: EcosystemReport | None = None,
) -> str:
    """The document ``{"plugins": [{"path", "name", "results": [...]}]}``.

    ``errors`` are paths that are not plugin directories at all, each
    ``{"path", "error"}``.  ``ecosystem`` (several plugins given) is the
    section ``{"ecosystem": {"plugins": [paths], "results": [...]}}``.
    """
    document: dict[str, Any] = {"plugins": [r.to_json() for r in reports]}
    if errors:
        document["errors"] = list(errors)
    if ecosystem is not None:
        document["ecosystem"] = ecosystem.to_json()
    return json.dumps(document, indent=2)


def report_schema() -> dict[str, Any]:
    """The JSON Schema the JSON report validates against (shipped in the package)."""
    text = (
        resources.files("nexus_testkit.contract")
        .joinpath("contract-report.schema.json")
        .read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def _table(checks: Sequence[Check]) -> str:
    lines = [
        "| id | severity | what it checks | how to fix a failure |",
        "| --- | --- | --- | --- |",
    ]
    for check in checks:
        lines.append(f"| `{check.id}` | {check.severity} | {check.description} | {check.fix} |")
    return "\n".join(lines) + "\n"


def checks_markdown() -> str:
    """The contract as a Markdown table, generated from the checks' own metadata."""
    return _table(CHECKS)


def ecosystem_markdown() -> str:
    """The checks over a set of plugins (``ecosystem.*``) as a Markdown table."""
    return _table(ECOSYSTEM_CHECKS)
