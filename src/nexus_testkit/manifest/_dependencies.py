"""The order in which a set of plugins starts, from their manifests' ``dependencies``.

The platform starts a plugin after the plugins it depends on and stops them in
the reverse order.  Manifests declare dependencies in two forms, and both are
read here (:func:`declared_dependencies`):

- a list: ``["auth", {"name": "storage", "version": ">=1.0"}]``, each item a
  plugin name or an object with a ``name``;
- a map, the form the platform's ``nexus plugin create`` writes and its
  ``PluginInfo.dependencies`` holds: ``{"plugins": ["auth", "storage"]}``.
  A key whose value is a version (``{"auth": ">=1.0"}``) or an object
  (``{"auth": {"version": ">=1.0"}}``) names a plugin too; any other list
  (``{"python": ["requests"]}``) names packages, not plugins.

A dependency names a plugin by its manifest ``name`` or as
``category.name`` (the platform's plugin ids).  A dependency that none of the
given manifests satisfies, or a cycle, is one :class:`PluginDependencyError`
naming the manifest files involved.

This module depends only on the manifest model and the error types, so it can
be used on its own (the host's start order, the ``ecosystem.*`` checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .._errors import PluginDependencyError
from ._load import Manifest

__all__ = [
    "MissingDependency",
    "declared_dependencies",
    "dependency_cycle",
    "dependency_order",
    "missing_dependencies",
]


@dataclass(frozen=True, slots=True)
class MissingDependency:
    """``manifest`` declares ``dependency``, which none of the given plugins is."""

    manifest: Manifest
    dependency: str


def declared_dependencies(manifest: Manifest | Mapping[str, Any]) -> tuple[str, ...]:
    """The plugin names a manifest depends on, in the order declared, each once.

    ``manifest`` is a loaded :class:`Manifest` or a raw manifest object.  Both
    declaration forms are read (see the module docstring); entries of the wrong
    JSON type are skipped here, since :func:`load_manifest` already reports
    them as errors with their field path.
    """
    # Not isinstance(manifest, Manifest): pytester's inline runs import the
    # module afresh, and a Manifest of the outer run is another class there.
    raw = manifest if isinstance(manifest, Mapping) else manifest.raw
    value = raw.get("dependencies")
    names: list[str] = []
    if isinstance(value, list):
        for item in value:
            name = item.get("name") if isinstance(item, Mapping) else item
            if isinstance(name, str):
                names.append(name)
    elif isinstance(value, Mapping):
        for key, spec in value.items():
            if key == "plugins" and isinstance(spec, list):
                names.extend(item for item in spec if isinstance(item, str))
            elif isinstance(spec, str | Mapping) and key != "plugins":
                names.append(key)
    return tuple(dict.fromkeys(name.strip() for name in names if name.strip()))


def _ids(manifest: Manifest) -> tuple[str, ...]:
    """The names a dependency may use for ``manifest``: its name and ``category.name``."""
    if manifest.category:
        return (manifest.name, f"{manifest.category}.{manifest.name}")
    return (manifest.name,)


def _index(manifests: Sequence[Manifest]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, manifest in enumerate(manifests):
        for ident in _ids(manifest):
            index.setdefault(ident, []).append(i)
    return index


def _edges(manifests: Sequence[Manifest]) -> tuple[list[list[int]], list[MissingDependency]]:
    """For each manifest, the indexes of the manifests it depends on; and what is missing."""
    index = _index(manifests)
    needs: list[list[int]] = []
    missing: list[MissingDependency] = []
    for manifest in manifests:
        targets: list[int] = []
        for dep in declared_dependencies(manifest):
            found = index.get(dep)
            if found is None:
                missing.append(MissingDependency(manifest, dep))
            else:
                targets.extend(j for j in found if j not in targets)
        needs.append(targets)
    return needs, missing


def missing_dependencies(manifests: Iterable[Manifest]) -> list[MissingDependency]:
    """Every declared dependency that none of ``manifests`` satisfies, in manifest order."""
    return _edges(list(manifests))[1]


def dependency_cycle(manifests: Iterable[Manifest]) -> list[Manifest] | None:
    """A cycle among ``manifests`` as ``[a, b, ..., a]`` (a depends on b ...), or None.

    Missing dependencies are ignored here; a plugin depending on itself is a
    cycle ``[a, a]``.
    """
    items = list(manifests)
    needs, _ = _edges(items)
    # Iterative depth-first search: 0 unvisited, 1 on the current path, 2 done.
    state = [0] * len(items)
    for root in range(len(items)):
        if state[root]:
            continue
        path = [root]
        cursors = [0]
        state[root] = 1
        while path:
            node = path[-1]
            if cursors[-1] < len(needs[node]):
                nxt = needs[node][cursors[-1]]
                cursors[-1] += 1
                if state[nxt] == 1:
                    loop = [*path[path.index(nxt) :], nxt]
                    return [items[i] for i in loop]
                if state[nxt] == 0:
                    state[nxt] = 1
                    path.append(nxt)
                    cursors.append(0)
            else:
                state[node] = 2
                path.pop()
                cursors.pop()
    return None


def dependency_order(manifests: Iterable[Manifest]) -> list[Manifest]:
    """``manifests`` in start order: every plugin after the plugins it depends on.

    The order is otherwise the given one (a plugin starts as early as its
    dependencies allow), so independent plugins start as listed; stop them in
    the reverse of this order.  Raises :class:`PluginDependencyError` naming the
    manifests when a dependency is not among ``manifests`` or the dependencies
    form a cycle.
    """
    items = list(manifests)
    needs, missing = _edges(items)
    if missing:
        raise _missing_error(missing, items)
    started: list[int] = []
    done = [False] * len(items)
    while len(started) < len(items):
        for i in range(len(items)):
            if not done[i] and all(done[j] for j in needs[i]):
                done[i] = True
                started.append(i)
                break
        else:
            cycle = dependency_cycle(items)
            assert cycle is not None  # nothing can start: a cycle, by construction
            raise _cycle_error(cycle)
    return [items[i] for i in started]


def _missing_error(
    missing: list[MissingDependency], given: list[Manifest]
) -> PluginDependencyError:
    names = ", ".join(m.name for m in given)
    if len(missing) == 1:
        only = missing[0]
        head = (
            f"{only.manifest.path}: {only.manifest.name!r} depends on {only.dependency!r}, "
            f"which is not among the plugins given ({names})"
        )
    else:
        head = f"{len(missing)} dependencies are not among the plugins given ({names}):"
        head += "".join(
            f"\n- {m.manifest.path}: {m.manifest.name!r} depends on {m.dependency!r}"
            for m in missing
        )
    hint = (
        "Add the plugin it depends on to the host, or remove it from the manifest's dependencies."
    )
    paths = tuple(dict.fromkeys(m.manifest.path for m in missing))
    return PluginDependencyError(f"{head}\n{hint}", kind="missing", paths=paths)


def _cycle_error(cycle: list[Manifest]) -> PluginDependencyError:
    chain = " -> ".join(m.name for m in cycle)
    lines = [f"the plugins' dependencies form a cycle: {chain}"]
    lines.extend(f"- {a.path}: {a.name!r} depends on {b.name!r}" for a, b in pairwise(cycle))
    lines.append("No plugin of a cycle can start first: remove one of these dependencies.")
    paths = tuple(dict.fromkeys(m.path for m in cycle))
    return PluginDependencyError("\n".join(lines), kind="cycle", paths=paths)
