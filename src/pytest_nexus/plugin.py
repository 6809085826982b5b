"""The pytest plugin (entry point ``nexus``): options, ini keys, markers, and its parts.

pytest imports this module in every run of every project where pytest-nexus
is installed, so it and the parts it registers import nothing heavy:
``nexus_testkit``'s hosts (and through them pydantic, FastAPI, httpx) are
imported by the fixtures and the contract, the first time one is used.
``tests/test_public_api.py`` pins that.

The parts, each a thin adapter over the library:

- ``_settings``: the session's settings from the command line and ini file;
- ``_markers``: ``nexus_plugin``, ``nexus_host``, ``nexus_config``;
- ``_fixtures``: the fixtures;
- ``_contract``: the lifecycle contract as test items;
- ``_reporting``: what a failing test's report shows;
- ``_tracebacks``, ``_terminal``, ``_asyncio``, ``_warnings``: what a plugin
  author sees (no harness frames, the contract's summary line, strict-mode
  async tests, the platform's import warnings).
"""

from __future__ import annotations

import os

import pytest

from ._markers import MARKERS
from ._settings import SETTINGS_KEY, Settings

#: The parts: the fixtures and the failure report's sections; and what a plugin
#: author sees: tracebacks without harness frames, the contract's summary line,
#: async tests marked for pytest-asyncio, the platform's warnings.
pytest_plugins = [
    "pytest_nexus._fixtures",
    "pytest_nexus._reporting",
    "pytest_nexus._tracebacks",
    "pytest_nexus._terminal",
    "pytest_nexus._asyncio",
    "pytest_nexus._warnings",
]

# ---------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nexus", "Nexus Platform plugin testing (pytest-nexus)")
    group.addoption(
        "--nexus-plugin",
        action="append",
        default=[],
        metavar="DIR",
        help="run the lifecycle contract against the plugin in DIR (repeatable); the first "
        "one is also the plugin of the nexus fixtures when a test names none.",
    )
    group.addoption(
        "--nexus-timeout",
        default=None,
        metavar="SECONDS",
        help="time-out of initialize(), shutdown() and event handlers (default 5).",
    )
    group.addoption(
        "--nexus-fidelity",
        default=None,
        metavar="FIDELITY",
        help="data store fidelity of the nexus fixtures: memory (default) or sql.",
    )
    group.addoption(
        "--nexus-strict",
        action="store_true",
        default=False,
        help="warning-level contract checks fail the run too.",
    )
    group.addoption(
        "--nexus-skip",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="skip a contract check, with the reason (repeatable); the skip shows in every report.",
    )
    group.addoption(
        "--nexus-examples",
        default=None,
        metavar="N",
        help="number of generated examples per property-based contract check (default 25).",
    )
    group.addoption(
        "--nexus-simulate",
        default=None,
        metavar="SECONDS",
        help="simulated time the contract runs a started plugin for, checking its background "
        "tasks (default 3600; 0: none).",
    )
    group.addoption(
        "--nexus-profile",
        default=None,
        metavar="PROFILE",
        help="load the hypothesis profile nexus-dev or nexus-ci (default: the "
        "NEXUS_HYPOTHESIS_PROFILE environment variable; never overrides a profile "
        "loaded with --hypothesis-profile or in a conftest).",
    )
    group.addoption(
        "--nexus-backend",
        default=None,
        metavar="BACKEND",
        help="fake (default): the recording fakes; platform: nexus-platform's own event bus, "
        "service registry and SQL adapter (SQLite in a temporary file unless --nexus-db-url).",
    )
    group.addoption(
        "--nexus-db-url",
        default=None,
        metavar="URL",
        help="database URL for --nexus-backend=platform, e.g. "
        "postgresql+asyncpg://user:pass@127.0.0.1/db (each test starts from an empty store).",
    )
    group.addoption(
        "--nexus-isolation",
        default=None,
        metavar="MODE",
        help="process (default): each contract plugin runs in a worker process of its own, "
        "under hard time and memory limits; inline: in the pytest process (to use a debugger).",
    )
    # Empty defaults: the library's own apply (HostOptions), and an unset key
    # is what lets a run that uses no nexus option skip loading them at all.
    parser.addini("nexus_backend", default="", help="default of --nexus-backend (fake).")
    parser.addini("nexus_isolation", default="", help="default of --nexus-isolation (process).")
    parser.addini("nexus_db_url", default="", help="default of --nexus-db-url.")
    parser.addini(
        "nexus_skip",
        type="linelist",
        default=[],
        help="contract checks to skip, one 'ID=REASON' per line.",
    )
    parser.addini(
        "nexus_plugins",
        type="linelist",
        default=[],
        help="plugin directories (globs allowed) whose contract runs in every session.",
    )
    parser.addini("nexus_timeout", default="", help="default of --nexus-timeout (5).")
    parser.addini("nexus_simulate", default="", help="default of --nexus-simulate (3600).")
    parser.addini("nexus_fidelity", default="", help="default of --nexus-fidelity (memory).")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if Settings.given(config):  # validated now: a bad value is a usage error at start-up
        config.stash[SETTINGS_KEY] = Settings.from_config(config)
    # else the defaults, built when a nexus fixture first needs them
    _hypothesis_profile(config)


def _hypothesis_profile(config: pytest.Config) -> None:
    # Hypothesis is imported only when a nexus profile is asked for: loading
    # it costs ~0.1 s that runs not using it should not pay.
    wanted = config.getoption("nexus_profile") or os.environ.get("NEXUS_HYPOTHESIS_PROFILE")
    theirs = config.getoption("hypothesis_profile", default=None)
    if not wanted and not (theirs and str(theirs).startswith("nexus-")):
        return
    from nexus_testkit.strategies._profiles import PROFILES, register_profiles

    if wanted and wanted not in PROFILES:
        raise pytest.UsageError(
            f"{wanted!r} is not a nexus hypothesis profile. Valid profiles: {', '.join(PROFILES)}."
        )
    register_profiles()  # before hypothesis' own configure loads --hypothesis-profile
    from hypothesis import settings

    # "ci" is what hypothesis loads by itself when the CI variable is set; a
    # profile a conftest loaded is the user's choice and is kept.
    if wanted and not theirs and settings.get_current_profile_name() in ("default", "ci"):
        settings.load_profile(wanted)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: the items must exist before -k and -m deselect.
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is not None and settings.contract_plugins:
        from ._contract import contract_items

        items.extend(
            contract_items(
                session,
                settings.contract_plugins,
                settings.contract_options(),
                settings.strict,
                isolation=settings.isolation,
            )
        )
