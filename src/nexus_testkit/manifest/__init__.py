"""``manifest.json``: loading it into a typed :class:`Manifest` (every dialect real
plugins use), the rules a configuration value must meet, and the start order of
several plugins from their declared dependencies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "MISSING": "_load",
    "MissingDependency": "_dependencies",
    "declared_dependencies": "_dependencies",
    "dependency_cycle": "_dependencies",
    "dependency_order": "_dependencies",
    "missing_dependencies": "_dependencies",
    "ConfigOption": "_load",
    "Endpoint": "_load",
    "EventSpec": "_load",
    "Manifest": "_load",
    "load_manifest": "_load",
    "manifest_path_of": "_load",
    "Violation": "_rules",
    "check_value": "_rules",
    "violations": "_rules",
}
__all__ = [
    "MISSING",
    "ConfigOption",
    "Endpoint",
    "EventSpec",
    "Manifest",
    "MissingDependency",
    "Violation",
    "check_value",
    "declared_dependencies",
    "dependency_cycle",
    "dependency_order",
    "load_manifest",
    "manifest_path_of",
    "missing_dependencies",
    "violations",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._dependencies import (
        MissingDependency,
        declared_dependencies,
        dependency_cycle,
        dependency_order,
        missing_dependencies,
    )
    from ._load import (
        MISSING,
        ConfigOption,
        Endpoint,
        EventSpec,
        Manifest,
        load_manifest,
        manifest_path_of,
    )
    from ._rules import Violation, check_value, violations
