"""Hypothesis strategies for Nexus plugins: configurations, event payloads, request bodies.

Every strategy is built from what the plugin declares (its manifest.json or its
FastAPI app), arguments are checked when the strategy is built, and values are
made to satisfy the rules by construction.  See docs/property-testing.md.

Importing this package costs nothing; a strategy's module imports hypothesis
and jsonschema when it is first used.  Never imports pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "request_bodies": "_bodies",
    "BrokenRule": "_config",
    "InvalidConfig": "_config",
    "configs": "_config",
    "invalid_configs": "_config",
    "to_json_schema": "_config",
    "event_payloads": "_payloads",
}
__all__ = [
    "BrokenRule",
    "InvalidConfig",
    "configs",
    "event_payloads",
    "invalid_configs",
    "request_bodies",
    "to_json_schema",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._bodies import request_bodies
    from ._config import BrokenRule, InvalidConfig, configs, invalid_configs, to_json_schema
    from ._payloads import event_payloads
