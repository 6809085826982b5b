"""Finding plugin directories: the one check of "is this a plugin directory" and glob expansion.

The CLI (``python -m nexus_testkit check DIR``) and the pytest plugin
(``--nexus-plugin``, the ``nexus_plugins`` ini option) both use it, so a bad
path gets the same message wherever it was given.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .._errors import NexusOptionsError

__all__ = ["discover_plugins", "plugin_dir_problem"]

_GLOB = frozenset("*?[")


def plugin_dir_problem(path: Path) -> str | None:
    """Why ``path`` is not a plugin directory, or None if it is one."""
    if not path.exists():
        return "no such directory"
    if not path.is_dir():
        return "is a file; expected a plugin directory"
    if not (path / "manifest.json").exists() and not (path / "plugin.py").exists():
        return "not a plugin directory (it holds neither manifest.json nor plugin.py)"
    return None


def discover_plugins(entries: Iterable[tuple[str, str | Path]], base: Path) -> list[Path]:
    """The plugin directories named by ``entries``, each ``(origin, path or glob)``.

    A relative path or glob is taken from ``base``; a glob keeps only the
    directories it matches.  Each directory must be a plugin directory.  The
    result has no duplicates and keeps the order given.  A problem is a
    :class:`NexusOptionsError` starting with the entry's origin
    (``--nexus-plugin=plugins/nope: no such directory``).
    """
    found: list[Path] = []
    for origin, entry in entries:
        text = str(entry)
        if _GLOB & set(text):
            matches = sorted(p for p in base.glob(text) if p.is_dir())
            if not matches:
                raise NexusOptionsError(f"{origin}: matches no directory under {base}")
        else:
            path = Path(entry)
            matches = [path if path.is_absolute() else base / path]
        for path in matches:
            problem = plugin_dir_problem(path)
            if problem:
                raise NexusOptionsError(f"{origin}: {problem}")
            if path not in found:
                found.append(path)
    return found
