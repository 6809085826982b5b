"""Rendering contract reports: text for people, JSON for machines, Markdown for the docs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .._describe import escape_control
from ._checks import CHECKS
from ._runner import PluginReport

__all__ = ["checks_markdown", "report_json", "report_schema", "report_text"]

_LABELS = {"failed": "FAILED ", "warning": "WARNING", "skipped": "SKIPPED", "passed": "passed "}


def _indent(text: str, prefix: str) -> str:
    lines = text.splitlines() or [""]
    return lines[0] + "".join(f"\n{prefix}{line}" for line in lines[1:])


def report_text(reports: Sequence[PluginReport], *, verbose: bool = False) -> str:
    """One block per plugin: a summary line, then every check that did not pass.

    Skipped checks are always listed with their reason, so an opt-out is
    visible wherever the report is read.
    """
    blocks = []
    for report in reports:
        counts = {o: sum(r.outcome == o for r in report.results) for o in _LABELS}
        head = escape_control(
            f"{report.name or '?'} ({report.path}): {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['warning']} warnings, "
            f"{counts['skipped']} skipped in {report.duration:.2f} s"
        )
        lines = [head]
        for result in report.results:
            if result.outcome == "passed" and not verbose:
                continue
            label = _LABELS[result.outcome]
            text = f"{result.check}: {result.message}" if result.message else result.check
            if result.fix and result.outcome in ("failed", "warning"):
                text += f"\nFix: {result.fix}"
            # What the plugin said cannot move the cursor or forge a line of the report.
            lines.append(f"  {label} {_indent(escape_control(text), ' ' * 11)}")
        lines.extend(f"  note: {_indent(escape_control(note), ' ' * 8)}" for note in report.notes)
        for stream, text in report.output.items():
            lines.append(f"  {stream} of the plugin:")
            lines.extend(f"    | {line}" for line in escape_control(text).splitlines())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def report_json(reports: Sequence[PluginReport], errors: Sequence[dict[str, Any]] = ()) -> str:
    """The document ``{"plugins": [{"path", "name", "results": [...]}]}``.

    ``errors`` are paths that are not plugin directories at all, each
    ``{"path", "error"}``.
    """
    document: dict[str, Any] = {"plugins": [r.to_json() for r in reports]}
    if errors:
        document["errors"] = list(errors)
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


def checks_markdown() -> str:
    """The contract as a Markdown table, generated from the checks' own metadata."""
    lines = [
        "| id | severity | what it checks | how to fix a failure |",
        "| --- | --- | --- | --- |",
    ]
    for check in CHECKS:
        lines.append(f"| `{check.id}` | {check.severity} | {check.description} | {check.fix} |")
    return "\n".join(lines) + "\n"
