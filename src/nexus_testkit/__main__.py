"""Command line: ``python -m nexus_testkit check DIR [DIR ...]`` and ``... checks``.

Exit status of ``check``: 0 when no error-level check failed (with
``--strict``, no warning either), 1 when one did, 2 for a usage error or a
path that is not a plugin directory at all (neither manifest.json nor
plugin.py); the other plugins of the run are still checked.  Given two or
more plugin directories, ``check`` also runs the checks over the set
(``ecosystem.*``), reported in a block and a JSON section of their own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract._ecosystem import EcosystemReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_testkit",
        description="Test harness for Nexus Platform plugins.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run the lifecycle contract against plugin directories")
    check.add_argument("paths", nargs="+", metavar="DIR", help="plugin directories")
    check.add_argument("--json", action="store_true", help="print the JSON report")
    check.add_argument("--output", metavar="FILE", help="also write the JSON report to FILE")
    check.add_argument("--strict", action="store_true", help="warnings fail too")
    check.add_argument("-v", "--verbose", action="store_true", help="list passed checks too")
    check.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="[PLUGIN:]ID=REASON",
        help="skip a check, with the reason; PLUGIN: limits it to one plugin (repeatable)",
    )
    check.add_argument("--timeout", default="5", help="seconds per lifecycle call (5)")
    check.add_argument("--examples", default=None, help="invalid configurations tried at most (25)")
    check.add_argument(
        "--simulate",
        default=None,
        metavar="SECONDS",
        help="simulated time the started plugin runs for, its background tasks checked "
        "(3600; 0: none)",
    )
    check.add_argument(
        "--backend",
        default="fake",
        help="fake (default) or platform: nexus-platform's own components",
    )
    check.add_argument(
        "--isolation",
        choices=("process", "inline"),
        default="process",
        help="process (default): each plugin in a worker process of its own; inline: in "
        "this process (to debug with a debugger)",
    )
    check.add_argument(
        "--plugin-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wall-clock limit of one plugin's whole contract (process isolation)",
    )
    check.add_argument(
        "--memory-limit",
        type=int,
        default=2048,
        metavar="MIB",
        help="address space a plugin's worker process may add, in MiB (2048)",
    )
    check.add_argument(
        "--db-url",
        default=None,
        help="database URL for --backend=platform (default: SQLite temp file)",
    )
    checks = sub.add_parser("checks", help="list the contract's checks")
    checks.add_argument("--markdown", action="store_true", help="as the Markdown table of the docs")
    return parser


def _write(path: str | None, text: str) -> None:
    if path:
        Path(path).write_text(text + "\n")


def _check(args: argparse.Namespace) -> int:
    from .isolation import IsolationError, IsolationOptions, WorkerPool, check_plugin

    with WorkerPool() as pool:
        if args.isolation == "process":
            pool.start()  # the server imports while this process does
        from ._settings import contract_options, parse_examples, parse_simulate, parse_skips
        from .contract._report import report_json, report_text
        from .contract._runner import PluginReport
        from .host._discovery import plugin_dir_problem
        from .host._options import HostOptions

        try:
            host = HostOptions.from_text(
                {"timeout": args.timeout, "backend": args.backend, "db_url": args.db_url},
                {"timeout": "--timeout", "backend": "--backend", "db_url": "--db-url"},
            )
            options = contract_options(
                timeout=host.timeout,
                skip=parse_skips(("--skip", text) for text in args.skip),
                examples=parse_examples("--examples", args.examples),
                simulate=parse_simulate("--simulate", args.simulate),
                backend=host.backend,
                db_url=host.db_url,
            )
            isolation = IsolationOptions(
                mode=args.isolation,
                plugin_timeout=args.plugin_timeout,
                memory_limit=args.memory_limit * 1024 * 1024,
            )
        except ValueError as exc:  # NexusOptionsError is one
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        reports: list[PluginReport] = []
        ecosystem: EcosystemReport | None = None
        errors: list[dict[str, Any]] = []
        for raw in args.paths:
            path = Path(raw)
            problem = plugin_dir_problem(path)
            if problem:
                errors.append({"path": str(path), "error": f"{path}: {problem}"})
                print(f"error: {path}: {problem}", file=sys.stderr)
                continue
            try:
                reports.append(check_plugin(path, options, isolation, pool=pool))
            except IsolationError as exc:
                print(f"error: {exc}\n(--isolation inline checks in this process)", file=sys.stderr)
                return EXIT_USAGE
            # Written after each plugin: a run that dies halfway leaves a valid report.
            _write(args.output, report_json(reports, errors))
        if len(reports) > 1:
            from .contract._ecosystem import run_ecosystem
            from .isolation import start_together

            paths = [r.path for r in reports]
            ecosystem = run_ecosystem(
                reports,
                options.skip,
                start=lambda: start_together(paths, options, isolation, pool=pool),
            )
    _write(args.output, report_json(reports, errors, ecosystem))
    if args.json:
        print(report_json(reports, errors, ecosystem))
    elif reports:
        print(report_text(reports, verbose=args.verbose, ecosystem=ecosystem))
    if errors:
        return EXIT_USAGE
    ok = all(r.ok(strict=args.strict) for r in reports)
    if ecosystem is not None and not ecosystem.ok(strict=args.strict):
        ok = False
    return EXIT_OK if ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "checks":
        from .contract._checks import CHECKS, ECOSYSTEM_CHECKS
        from .contract._report import checks_markdown, ecosystem_markdown

        if args.markdown:
            # The checks of each plugin, then (a table of their own) those over a set.
            print(checks_markdown())
            print(ecosystem_markdown(), end="")
        else:
            for c in (*CHECKS, *ECOSYSTEM_CHECKS):
                print(f"{c.id:34} {c.severity:8} {c.description}")
        return EXIT_OK
    return _check(args)


if __name__ == "__main__":
    sys.exit(main())
