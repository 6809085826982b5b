"""The session's settings: command line and ini file, validated by the library once per run.

The one place where the library's :class:`NexusOptionsError` becomes a
``pytest.UsageError`` (``ERROR: --nexus-timeout: timeout='soon' is not valid...``).
Imported at configure time of every run, so it imports only the light
options modules of ``nexus_testkit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nexus_testkit.host import HostOptions

__all__ = ["SETTINGS_KEY", "Settings", "settings_of"]


@dataclass
class Settings:
    """What every nexus fixture and contract item of the session starts from."""

    options: HostOptions
    rootpath: Path
    #: The fixtures' plugin when a test names none (the first), from --nexus-plugin or the ini.
    plugins: list[Path] = field(default_factory=list)
    contract_plugins: list[Path] = field(default_factory=list)
    skip: dict[str, str] = field(default_factory=dict)
    strict: bool = False
    examples: int = 25
    #: Seconds of simulated time the contract runs a started plugin for.
    simulate: float = 3600.0
    #: How contract plugins run (``nexus_testkit.isolation.IsolationOptions``).
    isolation: Any = None

    def contract_options(self) -> Any:
        from nexus_testkit._settings import contract_options

        return contract_options(
            timeout=self.options.timeout,
            skip=self.skip,
            examples=self.examples,
            simulate=self.simulate,
            backend=self.options.backend,
            db_url=self.options.db_url,
        )

    @staticmethod
    def given(config: pytest.Config) -> bool:
        """Whether the command line or the ini file sets any nexus option."""
        return any(config.getoption(f"nexus_{name}") for name in _OPTIONS) or any(
            config.getini(f"nexus_{name}") for name in _INI
        )

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        from nexus_testkit._errors import NexusOptionsError

        try:
            return cls._from_config(config)
        except NexusOptionsError as exc:
            raise pytest.UsageError(str(exc)) from None

    @classmethod
    def _from_config(cls, config: pytest.Config) -> Settings:
        from nexus_testkit._errors import NexusOptionsError
        from nexus_testkit._settings import parse_examples, parse_simulate, parse_skips
        from nexus_testkit.host._discovery import discover_plugins
        from nexus_testkit.host._options import HostOptions
        from nexus_testkit.isolation import IsolationOptions  # light: no heavy import

        values: dict[str, str | None] = {}
        origins: dict[str, str] = {}
        for name in ("timeout", "fidelity", "backend", "db_url"):
            given = config.getoption(f"nexus_{name}")
            values[name] = given or config.getini(f"nexus_{name}") or None
            flag = "--nexus-" + name.replace("_", "-")
            origins[name] = flag if given else f"nexus_{name} (ini)"
        options = HostOptions.from_text(values, origins)
        given = discover_plugins(
            ((f"--nexus-plugin={p}", p) for p in config.getoption("nexus_plugin")), Path()
        )
        base = config.inipath.parent if config.inipath else config.rootpath
        from_ini = discover_plugins(
            ((f"nexus_plugins: {p}", p) for p in config.getini("nexus_plugins")), base
        )
        skip = parse_skips(
            [("--nexus-skip", s) for s in config.getoption("nexus_skip")]
            + [("nexus_skip", s) for s in config.getini("nexus_skip")]
        )
        mode = config.getoption("nexus_isolation") or config.getini("nexus_isolation")
        try:
            isolation = IsolationOptions(mode=mode or "process")
        except ValueError as exc:  # the isolation options' own; the origin named here only
            raise NexusOptionsError(f"--nexus-isolation: {exc}") from None
        settings = cls(
            options,
            config.rootpath,
            plugins=given or from_ini,
            contract_plugins=list(dict.fromkeys(given + from_ini)),
            skip=skip,
            strict=bool(config.getoption("nexus_strict")),
            examples=parse_examples("--nexus-examples", config.getoption("nexus_examples")),
            simulate=parse_simulate(*_simulate(config)),
            isolation=isolation,
        )
        if skip:  # the check ids are the contract's to validate
            settings.contract_options()
        return settings


_OPTIONS = (
    "plugin", "timeout", "fidelity", "strict", "skip", "examples", "backend", "db_url",
    "isolation", "simulate",
)  # fmt: skip
_INI = ("backend", "db_url", "skip", "plugins", "timeout", "fidelity", "isolation", "simulate")


def _simulate(config: pytest.Config) -> tuple[str, str | None]:
    """Where the simulated time comes from, and its text (None: the default)."""
    given = config.getoption("nexus_simulate")
    if given is not None:
        return "--nexus-simulate", given
    return "nexus_simulate (ini)", config.getini("nexus_simulate") or None


SETTINGS_KEY = pytest.StashKey[Settings]()


def settings_of(node: pytest.Item | pytest.Config) -> Settings:
    """The session's settings (the defaults, built on first use, if nothing was set)."""
    config = node if isinstance(node, pytest.Config) else node.config
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        settings = config.stash[SETTINGS_KEY] = Settings.from_config(config)
    return settings
