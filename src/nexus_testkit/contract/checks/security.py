"""Checks of what the plugin reaches outside its own files."""

from __future__ import annotations

import os

from .._audit import allowed_roots, outside
from .._checks import Verdict, check, failed, passed
from .._evidence import Evidence
from ._util import bullets

_MAX_LINES = 8


@check(
    "security.filesystem",
    severity="error",
    description="""No request (of the exercise, or with traversal payloads on path-like
    parameters: ../ chains, absolute and encoded paths, NUL, a sibling of the plugin's data
    directory whose name starts with the directory's name) makes the plugin open, list, write
    or delete a file outside its own directory, its data directories, the Python installation
    and read-only system data (file access recorded by an audit hook, per request).""",
    fix="""Resolve the requested path and check it with Path.is_relative_to(base) (not
    str.startswith, which lets base-sibling through), and refuse anything else with a 400
    or 404.""",
    needs={"traversal"},
    uses={"exercise"},
)
def filesystem(ev: Evidence) -> Verdict | None:
    roots = allowed_roots(ev.directory, ev.data_roots)
    lines = []
    seen = set()
    for x in [*ev.exchanges, *ev.traversals]:
        for what, path in x.files:
            if not outside(path, roots):
                continue
            key = (x.method, x.template, what, path)
            if key in seen:
                continue
            seen.add(key)
            status = x.status if x.status is not None else "no answer"
            lines.append(f"{x.call()}  ->  {status}: {what} {path}")
    if lines:
        shown = lines[:_MAX_LINES]
        more = f"\n(and {len(lines) - len(shown)} more)" if len(lines) > len(shown) else ""
        where = ", ".join(ev.data_roots) or "(none seen)"
        return failed(
            f"requests that reached files outside the plugin's own (data directories: {where}):\n"
            + bullets(ev.masker(line) for line in shown)
            + more
        )
    tried = len(ev.traversals)
    return passed(f"{tried} traversal request(s); no file reached outside the allowed places")


@check(
    "security.cwd_writes",
    severity="warning",
    description="""Importing plugin.py and building the instance create no file or folder in the
    working directory (the platform's, shared by every plugin), outside the plugin's own
    directory.""",
    fix="""Create data directories in initialize(), under a path the configuration names or
    beside plugin.py (Path(__file__).parent), not relative to the working directory.""",
    needs={"instance"},
)
def cwd_writes(ev: Evidence) -> Verdict | None:
    cwd = str(ev.cwd.resolve()) + os.sep
    own = str(ev.directory.resolve()) + os.sep
    made = sorted(
        {
            path
            for what, path in ev.load_files
            if what == "write" and path.startswith(cwd) and not path.startswith(own)
        }
    )
    if made:
        return failed(
            f"{ev.file}: the import or the constructor created in the working directory "
            f"({ev.cwd}):\n" + bullets(made)
        )
    return None
