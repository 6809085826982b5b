"""Hypothesis strategies for Nexus plugins: configurations, event payloads, request bodies.

Every strategy is built from what the plugin declares (its manifest.json or its
FastAPI app), arguments are checked when the strategy is built, and values are
made to satisfy the rules by construction.  See docs/property-testing.md.

Importing this module does not import pytest; it needs hypothesis and
jsonschema.
"""

from __future__ import annotations

from ._bodies import request_bodies
from ._config import BrokenRule, InvalidConfig, configs, invalid_configs, to_json_schema
from ._payloads import event_payloads

__all__ = [
    "BrokenRule",
    "InvalidConfig",
    "configs",
    "event_payloads",
    "invalid_configs",
    "request_bodies",
    "to_json_schema",
]
