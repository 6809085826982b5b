"""The contract's checks: ids, severities, descriptions and how to fix a failure.

This module is metadata only (no plugin code runs here): the docs table and
the pytest items are generated from it, so they cannot drift from the checks
the runner performs.  A test pins that every check here is performed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CHECKS", "CHECKS_BY_ID", "KNOWN_PERMISSIONS", "Check", "Severity", "parse_skip"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Check:
    """One contract check.

    ``severity`` is ``error`` when a failure means the plugin is broken on the
    platform and ``warning`` when it will hurt in production.
    """

    id: str
    severity: Severity
    description: str
    fix: str

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]


#: Permission names the contract knows; others are reported as a warning.
KNOWN_PERMISSIONS = (
    "database.read",
    "database.write",
    "events.publish",
    "events.subscribe",
    "services.register",
    "services.use",
    "network.http",
    "filesystem.read",
    "filesystem.write",
)

CHECKS: tuple[Check, ...] = (
    # manifest ---------------------------------------------------------------
    Check(
        "manifest.exists",
        "error",
        "The plugin directory has a manifest.json.",
        "Add manifest.json beside plugin.py with at least name, version and category.",
    ),
    Check(
        "manifest.json",
        "error",
        "manifest.json is UTF-8 JSON holding an object.",
        "Fix the syntax at the line and column given; save the file as UTF-8.",
    ),
    Check(
        "manifest.schema",
        "error",
        "The manifest follows the schema: name, semantic version, category, permission "
        "strings, configuration entries, event names and api_endpoints are well-formed.",
        "Correct the field named in the message; versions look like 1.2.3.",
    ),
    Check(
        "manifest.config_defaults",
        "error",
        "Each configuration default matches its declared type, enum, bounds and pattern.",
        "Change the default, or the rule it breaks, so that the default is a valid value.",
    ),
    Check(
        "manifest.identity",
        "error",
        "The plugin instance's name, version and category agree with the manifest.",
        "Set self.name, self.version and self.category in __init__ to the manifest's values.",
    ),
    # load -------------------------------------------------------------------
    Check(
        "load.import",
        "error",
        "plugin.py imports without error.",
        "Fix the error at the plugin frame shown; install missing dependencies.",
    ),
    Check(
        "load.instance",
        "error",
        "A plugin instance can be built (create_plugin() or the platform's class rule).",
        "Define create_plugin() returning an instance, or a class whose name ends in Plugin.",
    ),
    Check(
        "load.interface",
        "error",
        "The instance has the BasePlugin interface: async initialize/shutdown/health_check, "
        "get_api_routes and get_database_schema.",
        "Subclass nexus.plugins.BasePlugin and implement its abstract methods.",
    ),
    Check(
        "load.platform_class",
        "error",
        "The class the platform's discovery rule picks (first *Plugin class in dir(module)) "
        "is the class create_plugin() builds.",
        "Rename or stop importing *Plugin classes that sort before yours (import the module, "
        "not the class), or rename your class so it sorts first.",
    ),
    # lifecycle --------------------------------------------------------------
    Check(
        "lifecycle.initialize",
        "error",
        "initialize() with a valid configuration returns True within the time-out.",
        "Return True from initialize() when it succeeds; never block or wait forever in it.",
    ),
    Check(
        "lifecycle.shutdown",
        "error",
        "shutdown() completes within the time-out and does not raise.",
        "Catch errors of cleanup steps in shutdown(); bound every wait with a time-out.",
    ),
    Check(
        "lifecycle.tasks",
        "error",
        "No asyncio task the plugin started is still pending after shutdown().",
        "Keep a reference to each task you create, cancel and await it in shutdown().",
    ),
    Check(
        "lifecycle.unsubscribe",
        "warning",
        "Handlers the plugin subscribed are unsubscribed by shutdown().",
        "Call unsubscribe_from_event for each subscription in shutdown().",
    ),
    Check(
        "lifecycle.restart",
        "error",
        "A fresh instance initializes again over the same stores after shutdown() "
        "(what disable/enable does).",
        "Do not leave state in the stores that makes the next start fail.",
    ),
    Check(
        "lifecycle.double_shutdown",
        "warning",
        "Calling shutdown() twice does not raise.",
        "Make shutdown() idempotent: guard cleanup with flags or None checks.",
    ),
    Check(
        "lifecycle.shutdown_uninitialized",
        "warning",
        "shutdown() without initialize() does not raise.",
        "Create resources in __init__ as None and check them in shutdown().",
    ),
    # config -----------------------------------------------------------------
    Check(
        "config.valid",
        "error",
        "initialize() accepts valid configurations drawn from the manifest's rules "
        "(defaults, bounds, enum members, realistic formats; --nexus-examples of them).",
        "Accept every value the manifest allows, or declare the rule the plugin enforces "
        "(min/max, enum, pattern, min_length) in the manifest.",
    ),
    Check(
        "config.required",
        "error",
        "A configuration missing a required key is refused (initialize returns False or "
        "raises) and the refused start leaks no task.",
        "Validate required keys at the start of initialize() and return False.",
    ),
    Check(
        "config.invalid",
        "error",
        "Values outside the declared type, enum, bounds or pattern are refused (each rule "
        "once, then drawn invalid configurations).",
        "Validate each configured value against the manifest's rules in initialize().",
    ),
    Check(
        "config.secrets",
        "error",
        "Values of secret keys never appear in log records (any level), published events "
        "or HTTP responses.",
        "Never log, publish or return secret values; log their presence, not their content.",
    ),
    # events -----------------------------------------------------------------
    Check(
        "events.declared",
        "error",
        "Every event published is declared in events.publishes and every subscription in "
        "events.subscribes (a warning when the manifest declares no events at all).",
        "Add the event names to the manifest's events section.",
    ),
    Check(
        "events.serialisable",
        "error",
        "Published payloads are JSON-serialisable.",
        "Publish plain JSON data: convert datetimes to ISO strings, sets to lists.",
    ),
    Check(
        "events.handlers_robust",
        "warning",
        "Each subscribed handler survives well-formed events with unexpected payloads "
        "(empty, unexpected keys, and payloads drawn from events.schemas or arbitrary JSON).",
        "Read event.data with .get() and handle missing or wrong-typed keys.",
    ),
    # permissions ------------------------------------------------------------
    Check(
        "permissions.declared",
        "error",
        "What the plugin does is covered by its permissions: publishing needs "
        "events.publish, subscribing events.subscribe, reads database.read, writes "
        "database.write (observed through the recording fakes).",
        "Add the missing permission to the manifest's permissions list.",
    ),
    Check(
        "permissions.known",
        "warning",
        "Every declared permission is one the platform knows.",
        "Fix the spelling, or remove permissions the platform does not define.",
    ),
    # routes -----------------------------------------------------------------
    Check(
        "routes.routers",
        "error",
        "get_api_routes() returns a list of fastapi.APIRouter.",
        "Return a list (possibly empty) of APIRouter objects.",
    ),
    Check(
        "routes.openapi",
        "error",
        "The routers mount and the app's OpenAPI schema builds.",
        "Use pydantic models and types FastAPI can describe in route signatures.",
    ),
    Check(
        "routes.declared",
        "error",
        "Every endpoint declared in api_endpoints exists with its method.",
        "Add the route, or correct the method or path in api_endpoints.",
    ),
    Check(
        "routes.unique",
        "error",
        "No two routes have the same method and path.",
        "Remove or rename the duplicate route.",
    ),
    Check(
        "routes.get_ok",
        "error",
        "Every GET route without path parameters answers below 500 after initialize().",
        "Fix the exception behind the 500; return 4xx for requests the route cannot serve.",
    ),
    Check(
        "routes.prefix",
        "warning",
        "Routers carry no prefix of their own (nexus-platform 0.1.5 applies a router's "
        "prefix twice when it mounts plugin routes).",
        "Put the prefix in each route's path instead of APIRouter(prefix=...).",
    ),
    # health -----------------------------------------------------------------
    Check(
        "health.before_init",
        "error",
        "health_check() before initialize() returns a HealthStatus (healthy is a bool, the "
        "model serialises to JSON) and does not raise.",
        "Make health_check() work on an uninitialized plugin; report healthy=False.",
    ),
    Check(
        "health.after_init",
        "error",
        "health_check() after a successful initialize() reports healthy.",
        "Set self.initialized = True in initialize(), or fix the unhealthy component.",
    ),
    # schema -----------------------------------------------------------------
    Check(
        "schema.database",
        "error",
        "get_database_schema() returns a JSON-serialisable dict whose collections map names "
        "to indexes lists of {field, unique?}.",
        "Return {'collections': {name: {'indexes': [{'field': ..., 'unique': bool}]}}}.",
    ),
    # robustness -------------------------------------------------------------
    Check(
        "robustness.blocking",
        "warning",
        "The event loop is not blocked for more than the bound (200 ms) during "
        "initialize(), shutdown() or a route call.",
        "Move blocking work to asyncio.to_thread() or use async libraries.",
    ),
)

CHECKS_BY_ID = {check.id: check for check in CHECKS}


def parse_skip(text: str) -> tuple[str, str] | None:
    """``"ID=REASON"`` (or ``"ID:REASON"``) as ``(id, reason)``; ``None`` without a reason."""
    check_id, sep, reason = text.partition("=")
    if not sep:
        check_id, sep, reason = text.partition(":")
    if not sep or not reason.strip():
        return None
    return check_id.strip(), reason.strip()
