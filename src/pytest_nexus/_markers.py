"""Reading the nexus markers of a test: ``nexus_plugin``, ``nexus_plugins``, ``nexus_host``,
``nexus_config``.

``nexus_host`` and ``nexus_config`` follow one rule: the markers of every
level (module, class, function, ``pytest.param(marks=...)``) are merged, and
for each key the closest marker wins.  A bad marker fails the test with the
library's message, never with a harness traceback.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from ._settings import settings_of

if TYPE_CHECKING:
    from nexus_testkit.host import HostOptions

__all__ = [
    "MARKERS",
    "fail_on",
    "host_options",
    "marker_config",
    "plugin_path",
    "plugin_paths",
    "plugins_config",
]

MARKERS = (
    "nexus_plugin(path): the plugin directory the nexus fixtures load, relative to the "
    "test file's directory or the rootdir.",
    "nexus_plugins(*paths, config=None): several plugins in one host (shared bus, store and "
    "service registry), started in dependency order; the nexus fixtures are the first "
    "plugin's; config maps a plugin name to its configuration (nexus_config configures the "
    "first).",
    "nexus_config(**values): configuration of the plugin under test, over the manifest "
    "defaults; a value of None removes the key; markers of all levels merge, the closest "
    "wins per key.",
    "nexus_host(**options): host options for this test (nexus_testkit.HostOptions): timeout, "
    "fidelity ('memory' or 'sql'), delivery ('inline' or 'queued'), allow_handler_errors, "
    "raise_app_exceptions, allow_network, mask_logs, detect_blocking (seconds), backend "
    "('fake' or 'platform'), db_url, allow_undeclared, clock ('virtual' or 'real'), "
    "allow_hosts (['localhost:9000']); markers of all levels merge, the closest wins per key.",
    "nexus_allow_errors(match=None): exceptions the plugin only logged (or handler errors "
    "the bus allowed) do not fail this test; with match=, only those matching the pattern(s).",
    "nexus_contract: an item of the lifecycle contract (added by --nexus-plugin).",
)


def fail_on(exc: BaseException) -> NoReturn:
    """Turn a harness error into a clean test failure: the message, no harness traceback."""
    # `from None`: "During handling of the above exception..." would print the message twice.
    raise pytest.fail.Exception(str(exc), pytrace=False) from None


def _merged(node: pytest.Item, name: str, usage: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    # iter_markers yields the closest first: reversed, the closest updates last.
    for marker in reversed(list(node.iter_markers(name))):
        if marker.args:
            pytest.fail(
                f"@pytest.mark.{name} takes keyword arguments only, like {usage}", pytrace=False
            )
        merged.update(marker.kwargs)
    return merged


def marker_config(node: pytest.Item) -> dict[str, Any]:
    """The ``nexus_config`` markers' values, merged."""
    return _merged(node, "nexus_config", "@pytest.mark.nexus_config(api_key='k')")


_OPTIONS_KEY = pytest.StashKey["HostOptions"]()


def host_options(node: pytest.Item) -> HostOptions:
    """The session's options with the ``nexus_host`` markers applied (once per test)."""
    options = node.stash.get(_OPTIONS_KEY, None)
    if options is None:
        from nexus_testkit import NexusOptionsError

        changes = _merged(node, "nexus_host", "@pytest.mark.nexus_host(timeout=1)")
        allow = node.get_closest_marker("nexus_allow_errors")
        if allow is not None:
            if allow.args or set(allow.kwargs) - {"match"}:
                pytest.fail(
                    "@pytest.mark.nexus_allow_errors takes no argument or match= (a pattern or "
                    'a list of patterns), like @pytest.mark.nexus_allow_errors(match="retrying")',
                    pytrace=False,
                )
            changes["allow_errors"] = allow.kwargs.get("match") or True
        try:
            options = settings_of(node).options.replace("@pytest.mark.nexus_host", **changes)
        except NexusOptionsError as exc:
            fail_on(exc)
        node.stash[_OPTIONS_KEY] = options
    return options


@functools.lru_cache(maxsize=256)
def _manifest_dir_above(directory: Path, stop: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / "manifest.json").is_file():
            return candidate
        if candidate == stop:
            break
    return None


def _resolve(node: pytest.Item, marker: str, value: Any) -> Path:
    """A marker's plugin directory, relative to the test file's directory or the rootdir."""
    try:
        given = Path(os.fspath(value))
    except TypeError:
        pytest.fail(
            f"@pytest.mark.{marker} takes plugin directories (str or Path), got {value!r}",
            pytrace=False,
        )
    if given.is_absolute():
        candidates = [given]
    else:
        candidates = [Path(node.path).parent / given, settings_of(node).rootpath / given]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    pytest.fail(
        f"@pytest.mark.{marker}({str(given)!r}): no such directory (tried {tried})",
        pytrace=False,
    )


def _closest(node: pytest.Item, name: str) -> Any:
    """``node.get_closest_marker(name)``, walked by hand: half its cost."""
    current: Any = node
    while current is not None:
        for mark in current.own_markers:
            if mark.name == name:
                return mark
        current = current.parent
    return None


def plugin_paths(node: pytest.Item) -> list[Path] | None:
    """``@pytest.mark.nexus_plugins(*paths)``'s directories, or None without the marker."""
    # _closest inlined: nexus_plugin_path and nexus_host of every test come here.
    current: Any = node
    while current is not None:
        for marker in current.own_markers:
            if marker.name == "nexus_plugins":
                return _several(node, marker)
        current = current.parent
    return None


def _several(node: pytest.Item, marker: Any) -> list[Path]:
    if not marker.args or set(marker.kwargs) - {"config"}:
        pytest.fail(
            "@pytest.mark.nexus_plugins takes plugin directories and config= (a mapping of "
            'plugin name to configuration), like @pytest.mark.nexus_plugins("plugins/users", '
            f'"plugins/notifications"): got args={marker.args!r} kwargs={marker.kwargs!r}',
            pytrace=False,
        )
    if node.get_closest_marker("nexus_plugin") is not None:
        pytest.fail(
            "@pytest.mark.nexus_plugin and @pytest.mark.nexus_plugins both apply to this "
            "test; keep one of the two",
            pytrace=False,
        )
    return [_resolve(node, "nexus_plugins", value) for value in marker.args]


def plugins_config(node: pytest.Item) -> dict[str, Any]:
    """``config=`` of ``@pytest.mark.nexus_plugins``: plugin name -> configuration."""
    marker = _closest(node, "nexus_plugins")
    config = marker.kwargs.get("config") if marker is not None else None
    if config is None:
        return {}
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        pytest.fail(
            "@pytest.mark.nexus_plugins(config=...) maps a plugin name to its configuration, "
            f'like config={{"notifications": {{"sender": "ops"}}}}: got {config!r}',
            pytrace=False,
        )
    return config


def plugin_path(node: pytest.Item) -> Path:
    """``@pytest.mark.nexus_plugin(path)``, else the first of ``@pytest.mark.nexus_plugins``,
    else the nearest directory holding a manifest.json above the test file, else the
    first ``--nexus-plugin``."""
    settings = settings_of(node)
    test_dir = Path(node.path).parent
    marker = node.get_closest_marker("nexus_plugin")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail(
                "@pytest.mark.nexus_plugin takes one argument, the plugin directory: "
                f"got args={marker.args!r} kwargs={marker.kwargs!r}",
                pytrace=False,
            )
        return _resolve(node, "nexus_plugin", marker.args[0])
    several = plugin_paths(node)
    if several is not None:
        return several[0]
    found = _manifest_dir_above(test_dir, settings.rootpath)
    if found is not None:
        return found
    if settings.plugins:
        return settings.plugins[0]
    pytest.fail(
        f"No Nexus plugin to test for {node.nodeid}: mark the test with "
        '@pytest.mark.nexus_plugin("path/to/plugin"), put it under a plugin directory '
        "(one holding manifest.json), or pass --nexus-plugin=DIR.",
        pytrace=False,
    )
