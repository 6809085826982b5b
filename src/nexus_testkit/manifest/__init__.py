"""``manifest.json``: loading it into a typed :class:`Manifest` (every dialect real
plugins use), and the rules a configuration value must meet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "MISSING": "_load",
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
    "Violation",
    "check_value",
    "load_manifest",
    "manifest_path_of",
    "violations",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
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
