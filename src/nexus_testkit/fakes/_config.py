"""The configuration a plugin under test is given, and what it writes back.

On the platform, ``BasePlugin.get_config(key)`` first asks the database for
the *raw* key, and falls back to the ``plugin.config`` dict; ``set_config``
updates ``plugin.config`` and writes ``plugins.{category}.{name}.config.{key}``
to the database, a key ``get_config`` never reads.  The harness hands the
configuration to the plugin as ``plugin.config`` (so no adapter serialisation
changes its types) and records every ``set_config`` write here.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..manifest._load import ConfigOption, Manifest
from ._recording import CallList

__all__ = ["ConfigStore", "ConfigWrite", "placeholder_value", "resolve_config"]


class ConfigWrite(NamedTuple):
    """One ``set_config(key, value)`` call, as seen by the data store."""

    key: str
    value: Any
    store_key: str


def resolve_config(
    manifest: Manifest | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    allow_undeclared: bool = False,
    origin: str = "config",
) -> dict[str, Any]:
    """Defaults from the manifest, then ``overrides`` on top.

    An override of ``None`` removes the key and nothing is filled in its place
    (that is how a test configures a plugin *without* a required key).  Keys
    that are required and were given no value at all get a deterministic
    placeholder of the right type (see :func:`placeholder_value`).

    A key the manifest does not declare is a :class:`NexusOptionsError`
    listing the declared keys (a misspelt key would otherwise be passed on
    silently), unless ``allow_undeclared``; ``origin`` names where the
    overrides came from in that message.  A manifest without a configuration
    section declares no schema, so its plugin's keys are not checked.
    """
    declares = manifest is not None and manifest.config_dialect != "none"
    if declares and overrides and not allow_undeclared:
        assert manifest is not None
        undeclared = [key for key in overrides if key not in manifest.configuration]
        if undeclared:
            from .._errors import NexusOptionsError

            declared = ", ".join(manifest.configuration) or "(none)"
            raise NexusOptionsError(
                f"{origin}: {', '.join(map(repr, undeclared))} "
                f"{'is' if len(undeclared) == 1 else 'are'} not declared in {manifest.path}; "
                f"declared keys: {declared}. To give an undeclared key on purpose, pass "
                "allow_undeclared=True (@pytest.mark.nexus_host(allow_undeclared=True))."
            )
    # Deep copies: a plugin mutating its config must not change the manifest.
    config: dict[str, Any] = copy.deepcopy(manifest.defaults()) if manifest is not None else {}
    removed: set[str] = set()
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
            removed.add(key)
        else:
            config[key] = copy.deepcopy(value)
    if manifest is not None:
        for key, option in manifest.configuration.items():
            if option.required and key not in config and key not in removed:
                config[key] = placeholder_value(option)
    return config


_FORMAT_PLACEHOLDERS = {
    "email": "nexus-test@example.com",
    "uri": "https://example.com/nexus-test",
    "url": "https://example.com/nexus-test",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "uuid": str(uuid.UUID(int=0x4E455855)),
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


def placeholder_value(option: ConfigOption) -> Any:
    """A deterministic value of the option's type, inside its bounds.

    Strings are non-empty (``"test-<key>"``, or a realistic value for a known
    ``format``), numbers are 1 clamped into ``[min, max]``, the first enum
    member wins when there is an enum.
    """
    if option.enum:
        return option.enum[0]
    if option.type == "integer":
        low = math.ceil(option.minimum) if option.minimum is not None else None
        high = math.floor(option.maximum) if option.maximum is not None else None
        value = 1
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return value
    if option.type == "number":
        number = 1.0
        if option.minimum is not None and number < option.minimum:
            number = float(option.minimum)
        if option.maximum is not None and number > option.maximum:
            number = float(option.maximum)
        return number
    if option.type == "boolean":
        return True
    if option.type == "array":
        return []
    if option.type == "object":
        return {}
    text = _FORMAT_PLACEHOLDERS.get(option.format or "", f"test-{option.name}")
    if option.min_length is not None and len(text) < option.min_length:
        text = text + "x" * (option.min_length - len(text))
    if option.max_length is not None:
        text = text[: max(option.max_length, 0)]
    return text


class ConfigStore:
    """The plugin's configuration and the ``set_config`` writes it made.

    ``values`` is what the plugin is configured with (manifest defaults, then
    the test's overrides); each started instance receives a fresh copy as its
    ``plugin.config``.  ``writes`` records ``set_config`` calls in order.
    """

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        secret_keys: tuple[str, ...] = (),
    ) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.secret_keys = secret_keys
        self.writes: CallList[ConfigWrite] = CallList()
        self._prefix: str | None = None
        self._live: dict[str, Any] | None = None

    @classmethod
    def from_manifest(
        cls,
        manifest: Manifest | None,
        overrides: Mapping[str, Any] | None = None,
        *,
        allow_undeclared: bool = False,
        origin: str = "config",
    ) -> ConfigStore:
        """Defaults from ``manifest`` with ``overrides`` applied (see :func:`resolve_config`)."""
        secrets = manifest.secret_keys if manifest is not None else ()
        values = resolve_config(
            manifest, overrides, allow_undeclared=allow_undeclared, origin=origin
        )
        return cls(values, secret_keys=secrets)

    def for_instance(self, category: str, name: str) -> dict[str, Any]:
        """A fresh ``plugin.config`` dict for a new instance named ``category.name``."""
        self._prefix = f"plugins.{category}.{name}.config."
        # Deep: an instance appending to a configured list must not change the next one's.
        self._live = copy.deepcopy(self.values)
        return self._live

    @property
    def current(self) -> dict[str, Any]:
        """The running instance's ``plugin.config`` (its writes included)."""
        return self._live if self._live is not None else dict(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.current.get(key, default)

    def _observe_set(self, store_key: str, value: Any) -> None:
        # Called by the data store for each set(): set_config's writes are the
        # ones under this instance's config prefix.
        prefix = self._prefix
        if prefix is not None and store_key.startswith(prefix):
            self.writes.append(ConfigWrite(store_key[len(prefix) :], value, store_key))

    def __repr__(self) -> str:
        shown = {k: ("***" if k in self.secret_keys else v) for k, v in self.values.items()}
        return f"<ConfigStore values={shown!r} writes={len(self.writes)}>"
