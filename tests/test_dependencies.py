"""Unit tests of nexus_testkit.manifest._dependencies: both declaration forms, start order, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_testkit import Manifest, NexusTestkitError, PluginDependencyError, load_manifest
from nexus_testkit.manifest import (
    MissingDependency,
    declared_dependencies,
    dependency_cycle,
    dependency_order,
    missing_dependencies,
)


def plugin(tmp_path: Path, name: str, dependencies: Any = None, **extra: Any) -> Manifest:
    """A manifest ``<tmp_path>/<name>/manifest.json`` declaring ``dependencies``."""
    folder = tmp_path / name
    folder.mkdir()
    data: dict[str, Any] = {"name": name, "version": "1.0.0", **extra}
    if dependencies is not None:
        data["dependencies"] = dependencies
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return load_manifest(folder)


def names(manifests: list[Manifest]) -> list[str]:
    return [m.name for m in manifests]


# --------------------------------------------------------------------------- declared_dependencies


@pytest.mark.parametrize(
    ("dependencies", "expected"),
    [
        (None, ()),
        ([], ()),
        ({}, ()),
        (["auth", "storage"], ("auth", "storage")),
        (["auth", {"name": "storage", "version": ">=1.0"}], ("auth", "storage")),
        ({"plugins": ["auth", "storage"]}, ("auth", "storage")),
        # The form `nexus plugin create` writes, with a package group that names no plugin.
        ({"plugins": ["auth"], "python": ["requests>=2"]}, ("auth",)),
        ({"auth": ">=1.0", "storage": {"version": "2"}}, ("auth", "storage")),
        ({"plugins": ["auth"], "storage": ">=1.0"}, ("auth", "storage")),
        (["auth", "auth", " "], ("auth",)),
    ],
)
def test_declared_dependencies_reads_both_forms(
    dependencies: Any, expected: tuple[str, ...]
) -> None:
    raw: dict[str, Any] = {"name": "x"}
    if dependencies is not None:
        raw["dependencies"] = dependencies
    assert declared_dependencies(raw) == expected


def test_declared_dependencies_of_a_loaded_manifest(tmp_path: Path) -> None:
    manifest = plugin(tmp_path, "notifications", {"plugins": ["users"], "python": ["httpx"]})
    assert declared_dependencies(manifest) == ("users",)
    assert manifest.dependencies == ("users",)  # the loader reads them by the same rule


# --------------------------------------------------------------------------- dependency_order


def test_order_puts_dependencies_first(tmp_path: Path) -> None:
    notifications = plugin(tmp_path, "notifications", ["users"])
    users = plugin(tmp_path, "users")
    assert names(dependency_order([notifications, users])) == ["users", "notifications"]


def test_order_keeps_the_given_order_of_independent_plugins(tmp_path: Path) -> None:
    a, b, c = plugin(tmp_path, "a"), plugin(tmp_path, "b"), plugin(tmp_path, "c")
    assert names(dependency_order([c, a, b])) == ["c", "a", "b"]


def test_order_of_a_diamond_in_the_map_form(tmp_path: Path) -> None:
    app = plugin(tmp_path, "app", {"plugins": ["left", "right"]})
    left = plugin(tmp_path, "left", {"base": ">=1"})
    right = plugin(tmp_path, "right", ["base"])
    base = plugin(tmp_path, "base")
    order = names(dependency_order([app, left, right, base]))
    assert order == ["base", "left", "right", "app"]


def test_a_dependency_may_name_category_and_name(tmp_path: Path) -> None:
    users = plugin(tmp_path, "users", category="auth")
    notifications = plugin(tmp_path, "notifications", ["auth.users"])
    assert names(dependency_order([notifications, users])) == ["users", "notifications"]
    assert missing_dependencies([notifications, users]) == []


def test_the_empty_set_and_one_plugin(tmp_path: Path) -> None:
    assert dependency_order([]) == []
    only = plugin(tmp_path, "only")
    assert dependency_order([only]) == [only]


# --------------------------------------------------------------------------- errors


def test_a_missing_dependency_names_the_manifest(tmp_path: Path) -> None:
    notifications = plugin(tmp_path, "notifications", ["users"])
    audit = plugin(tmp_path, "audit")
    with pytest.raises(PluginDependencyError) as info:
        dependency_order([notifications, audit])
    error = info.value
    assert isinstance(error, NexusTestkitError)
    assert error.kind == "missing"
    assert error.paths == (notifications.path,)
    assert str(error).splitlines() == [
        f"{notifications.path}: 'notifications' depends on 'users', "
        "which is not among the plugins given (notifications, audit)",
        "Add the plugin it depends on to the host, or remove it from the manifest's dependencies.",
    ]


def test_several_missing_dependencies_are_one_error_listing_each(tmp_path: Path) -> None:
    a = plugin(tmp_path, "a", ["x"])
    b = plugin(tmp_path, "b", {"plugins": ["y", "a"]})
    assert missing_dependencies([a, b]) == [MissingDependency(a, "x"), MissingDependency(b, "y")]
    with pytest.raises(PluginDependencyError) as info:
        dependency_order([a, b])
    assert str(info.value).splitlines()[:3] == [
        "2 dependencies are not among the plugins given (a, b):",
        f"- {a.path}: 'a' depends on 'x'",
        f"- {b.path}: 'b' depends on 'y'",
    ]
    assert info.value.paths == (a.path, b.path)


def test_a_cycle_names_every_manifest_of_it(tmp_path: Path) -> None:
    users = plugin(tmp_path, "users", ["notifications"])
    notifications = plugin(tmp_path, "notifications", {"plugins": ["users"]})
    standalone = plugin(tmp_path, "standalone")
    with pytest.raises(PluginDependencyError) as info:
        dependency_order([standalone, users, notifications])
    error = info.value
    assert error.kind == "cycle"
    assert set(error.paths) == {users.path, notifications.path}
    assert str(error).splitlines() == [
        "the plugins' dependencies form a cycle: users -> notifications -> users",
        f"- {users.path}: 'users' depends on 'notifications'",
        f"- {notifications.path}: 'notifications' depends on 'users'",
        "No plugin of a cycle can start first: remove one of these dependencies.",
    ]


def test_a_plugin_depending_on_itself_is_a_cycle(tmp_path: Path) -> None:
    selfish = plugin(tmp_path, "selfish", ["selfish"])
    assert dependency_cycle([selfish]) == [selfish, selfish]
    with pytest.raises(PluginDependencyError, match="cycle: selfish -> selfish"):
        dependency_order([selfish])


def test_a_cycle_behind_a_plugin_that_is_not_in_it(tmp_path: Path) -> None:
    top = plugin(tmp_path, "top", ["a"])
    a = plugin(tmp_path, "a", ["b"])
    b = plugin(tmp_path, "b", ["c"])
    c = plugin(tmp_path, "c", ["a"])
    assert names(dependency_cycle([top, a, b, c]) or []) == ["a", "b", "c", "a"]


def test_no_cycle(tmp_path: Path) -> None:
    a = plugin(tmp_path, "a", ["b"])
    b = plugin(tmp_path, "b")
    assert dependency_cycle([a, b]) is None


def test_missing_dependencies_are_reported_before_a_cycle(tmp_path: Path) -> None:
    a = plugin(tmp_path, "a", ["b", "ghost"])
    b = plugin(tmp_path, "b", ["a"])
    with pytest.raises(PluginDependencyError) as info:
        dependency_order([a, b])
    assert info.value.kind == "missing"
