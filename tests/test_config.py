"""Unit tests of nexus_testkit.fakes._config: resolve_config, placeholder_value, ConfigStore."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from nexus_testkit import (
    ConfigOption,
    ConfigStore,
    ConfigWrite,
    Manifest,
    NexusOptionsError,
    RecordingDataStore,
    load_manifest,
    placeholder_value,
    resolve_config,
)

DATA = Path(__file__).parent / "data" / "manifests"


def manifest_from(tmp_path: Path, content: dict[str, Any]) -> Manifest:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"name": "cfg_plugin", **content}), encoding="utf-8")
    return load_manifest(path)


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return manifest_from(
        tmp_path,
        {
            "configuration": {
                "api_key": {"type": "string", "required": True, "secret": True},
                "max_retries": {"type": "integer", "default": 3, "min": 1, "max": 10},
                "region": {"type": "string", "required": True, "default": "eu"},
                "timeout": {"type": "number", "default": 30},
                "verbose": {"type": "boolean"},
            }
        },
    )


# --------------------------------------------------------------------------- resolve_config


def test_resolve_without_manifest() -> None:
    assert resolve_config(None) == {}
    assert resolve_config(None, {"a": 1}) == {"a": 1}
    assert resolve_config(None, {"a": None}) == {}


def test_resolve_defaults_and_placeholders(manifest: Manifest) -> None:
    config = resolve_config(manifest)
    assert config == {
        "api_key": "test-api_key",  # required, no default: placeholder
        "max_retries": 3,
        "region": "eu",  # required with a default: the default
        "timeout": 30,
    }
    assert "verbose" not in config  # optional without default: absent


def test_resolve_overrides_win(manifest: Manifest) -> None:
    overrides = {"max_retries": 7, "api_key": "sk-live", "extra": [1]}
    config = resolve_config(manifest, overrides, allow_undeclared=True)
    assert config["max_retries"] == 7
    assert config["api_key"] == "sk-live"
    assert config["extra"] == [1]  # undeclared keys are kept when allowed


def test_resolve_refuses_undeclared_keys_listing_the_declared_ones(manifest: Manifest) -> None:
    with pytest.raises(NexusOptionsError) as info:
        resolve_config(manifest, {"max_retris": 7, "extra": 1}, origin="nexus_config")
    assert str(info.value) == (
        f"nexus_config: 'max_retris', 'extra' are not declared in {manifest.path}; declared "
        "keys: api_key, max_retries, region, timeout, verbose. To give an undeclared key on "
        "purpose, pass allow_undeclared=True (@pytest.mark.nexus_host(allow_undeclared=True))."
    )
    assert isinstance(info.value, ValueError)


def test_resolve_falsy_overrides_are_values(manifest: Manifest) -> None:
    config = resolve_config(manifest, {"max_retries": 0, "api_key": "", "verbose": False})
    assert config["max_retries"] == 0
    assert config["api_key"] == ""
    assert config["verbose"] is False


def test_resolve_none_removes_a_default(manifest: Manifest) -> None:
    config = resolve_config(manifest, {"max_retries": None})
    assert "max_retries" not in config
    assert config["timeout"] == 30


def test_resolve_none_removes_required_key_and_nothing_is_filled(manifest: Manifest) -> None:
    config = resolve_config(manifest, {"api_key": None, "region": None})
    assert "api_key" not in config
    assert "region" not in config
    assert config == {"max_retries": 3, "timeout": 30}


def test_resolve_none_for_unknown_key_is_harmless(manifest: Manifest) -> None:
    config = resolve_config(manifest, {"nope": None}, allow_undeclared=True)
    assert "nope" not in config
    with pytest.raises(NexusOptionsError, match="'nope' is not declared"):
        resolve_config(manifest, {"nope": None})  # a misspelt removal removes nothing


def test_resolve_does_not_mutate_overrides_or_manifest(manifest: Manifest) -> None:
    overrides = {"max_retries": None, "api_key": "k"}
    before = dict(overrides)
    resolve_config(manifest, overrides)
    assert overrides == before
    assert manifest.defaults() == {"max_retries": 3, "region": "eu", "timeout": 30}


def test_resolve_returns_a_new_dict_each_time(manifest: Manifest) -> None:
    first = resolve_config(manifest)
    first["max_retries"] = 99
    assert resolve_config(manifest)["max_retries"] == 3


def test_resolve_does_not_share_mutable_defaults_with_the_manifest(tmp_path: Path) -> None:
    manifest = manifest_from(tmp_path, {"config": {"tags": ["a"], "limits": {"rpm": 60}}})
    config = resolve_config(manifest)
    config["tags"].append("changed")
    config["limits"]["rpm"] = 0
    assert manifest.defaults() == {"tags": ["a"], "limits": {"rpm": 60}}
    assert manifest.raw["config"] == {"tags": ["a"], "limits": {"rpm": 60}}
    assert resolve_config(manifest) == {"tags": ["a"], "limits": {"rpm": 60}}


def test_resolve_flat_config_dialect() -> None:
    manifest = load_manifest(DATA / "flat_config.json")
    assert resolve_config(manifest) == manifest.raw["config"]
    without_proxy = resolve_config(manifest, {"proxy": None})
    assert "proxy" not in without_proxy
    assert without_proxy["retries"] == 3


def test_resolve_schema_dialect_placeholders() -> None:
    manifest = load_manifest(DATA / "configuration_schema.json")
    config = resolve_config(manifest)
    assert config == {
        "endpoint": "https://example.com/nexus-test",  # format uri
        "api_token": "test-api_token",  # already minLength 12
        "level": 2,  # required but has a default
    }


def test_resolve_embedded_schema() -> None:
    manifest = load_manifest(DATA / "configuration_json_schema.json")
    assert resolve_config(manifest) == {
        "webhook": "https://example.com/nexus-test",
        "batch": 50,
    }


def test_resolve_full_configuration_dialect() -> None:
    manifest = load_manifest(DATA / "configuration.json")
    config = resolve_config(manifest)
    assert config["api_key"] == "test-api_key"
    assert config["token"] == "test-token"
    assert config["station"] == "test-station"
    assert config["untyped"] is None  # a null default is a value
    assert "password" not in config
    assert "contact" not in config


# --------------------------------------------------------------------------- placeholder_value


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (ConfigOption("name", type="string"), "test-name"),
        (ConfigOption("name"), "test-name"),  # untyped: a string
        (ConfigOption("flag", type="boolean"), True),
        (ConfigOption("items", type="array"), []),
        (ConfigOption("mapping", type="object"), {}),
        (ConfigOption("count", type="integer"), 1),
        (ConfigOption("ratio", type="number"), 1.0),
        (ConfigOption("count", type="integer", minimum=5), 5),
        (ConfigOption("count", type="integer", minimum=1.5), 2),  # rounded up into range
        (ConfigOption("count", type="integer", maximum=0), 0),
        (ConfigOption("count", type="integer", minimum=-10, maximum=-5), -5),
        (ConfigOption("count", type="integer", minimum=-3), 1),
        (ConfigOption("ratio", type="number", minimum=2.5), 2.5),
        (ConfigOption("ratio", type="number", maximum=0.25), 0.25),
        (ConfigOption("ratio", type="number", minimum=0, maximum=0.5), 0.5),
        (ConfigOption("mode", type="string", enum=("fast", "slow")), "fast"),
        (ConfigOption("level", type="integer", enum=(7, 9), minimum=1), 7),
        (ConfigOption("mode", type="string", enum=()), "test-mode"),  # empty enum ignored
        (ConfigOption("mail", type="string", format="email"), "nexus-test@example.com"),
        (ConfigOption("site", type="string", format="uri"), "https://example.com/nexus-test"),
        (ConfigOption("site", type="string", format="url"), "https://example.com/nexus-test"),
        (ConfigOption("when", type="string", format="date-time"), "2024-01-01T00:00:00Z"),
        (ConfigOption("day", type="string", format="date"), "2024-01-01"),
        (ConfigOption("ip", type="string", format="ipv4"), "192.0.2.1"),
        (ConfigOption("ip6", type="string", format="ipv6"), "2001:db8::1"),
        (ConfigOption("host", type="string", format="hostname"), "example.com"),
        (ConfigOption("thing", type="string", format="unknown-format"), "test-thing"),
        (ConfigOption("k", type="string", min_length=8), "test-kxx"),
        (ConfigOption("key", type="string", max_length=4), "test"),
        (ConfigOption("key", type="string", max_length=0), ""),
        (ConfigOption("k", type="string", min_length=3, max_length=50), "test-k"),
    ],
)
def test_placeholder_value(option: ConfigOption, expected: Any) -> None:
    value = placeholder_value(option)
    assert value == expected
    assert type(value) is type(expected)


def test_placeholder_uuid_format_is_a_uuid() -> None:
    value = placeholder_value(ConfigOption("id", type="string", format="uuid"))
    assert str(uuid.UUID(value)) == value


def test_placeholder_is_deterministic() -> None:
    option = ConfigOption("id", type="string", format="uuid")
    assert placeholder_value(option) == placeholder_value(option)


@pytest.mark.parametrize(
    "option",
    [
        ConfigOption("n", type="integer", minimum=3, maximum=8),
        ConfigOption("n", type="integer", minimum=-7.5, maximum=-2.5),
        ConfigOption("n", type="integer", maximum=0.5),
        ConfigOption("n", type="integer", maximum=-2.5),
        ConfigOption("n", type="integer", minimum=0.1, maximum=3.9),
        ConfigOption("x", type="number", minimum=-1, maximum=-0.5),
    ],
    ids=["3..8", "-7.5..-2.5", "..0.5", "..-2.5", "0.1..3.9", "number -1..-0.5"],
)
def test_placeholder_integer_stays_inside_bounds(option: ConfigOption) -> None:
    value = placeholder_value(option)
    assert option.minimum is None or value >= option.minimum, value
    assert option.maximum is None or value <= option.maximum, value


def test_placeholder_pads_short_strings() -> None:
    option = ConfigOption("api_token", type="string", min_length=20)
    assert placeholder_value(option) == "test-api_token" + "x" * 6


def test_placeholder_pads_and_formats() -> None:
    value = placeholder_value(ConfigOption("mail", type="string", format="email", min_length=30))
    assert len(value) == 30
    assert value.startswith("nexus-test@example.com")


# --------------------------------------------------------------------------- ConfigStore


def test_store_values_copy_input() -> None:
    values = {"a": 1}
    store = ConfigStore(values)
    values["a"] = 2
    assert store.values == {"a": 1}
    assert ConfigStore().values == {}
    assert ConfigStore(None).values == {}


def test_from_manifest(manifest: Manifest) -> None:
    store = ConfigStore.from_manifest(manifest, {"api_key": "sk-1234", "timeout": None})
    assert store.values == {"api_key": "sk-1234", "max_retries": 3, "region": "eu"}
    assert store.secret_keys == ("api_key",)
    assert ConfigStore.from_manifest(None).values == {}
    assert ConfigStore.from_manifest(None).secret_keys == ()


def test_for_instance_gives_fresh_copies() -> None:
    store = ConfigStore({"a": 1, "b": "x"})
    first = store.for_instance("cat", "plug")
    first["a"] = 99
    first["new"] = True
    second = store.for_instance("cat", "plug")
    assert second == {"a": 1, "b": "x"}
    assert second is not first
    assert store.values == {"a": 1, "b": "x"}


def test_for_instance_copies_nested_values() -> None:
    # A plugin that appends to a list (or updates a dict) in its config must
    # not change the configuration the next instance is started with.
    store = ConfigStore({"tags": ["a"], "limits": {"rpm": 60}})
    first = store.for_instance("cat", "plug")
    first["tags"].append("leaked")
    first["limits"]["rpm"] = 0
    second = store.for_instance("cat", "plug")
    assert second == {"tags": ["a"], "limits": {"rpm": 60}}
    assert store.values == {"tags": ["a"], "limits": {"rpm": 60}}


def test_current_and_get() -> None:
    store = ConfigStore({"a": 1})
    before = store.current
    assert before == {"a": 1}
    before["a"] = 2  # a copy before any instance exists
    assert store.get("a") == 1
    assert store.get("missing") is None
    assert store.get("missing", "dflt") == "dflt"
    live = store.for_instance("cat", "plug")
    live["a"] = 5  # what set_config does to plugin.config
    assert store.current is live
    assert store.get("a") == 5
    assert store.values == {"a": 1}


@pytest.mark.asyncio
async def test_writes_recorded_through_observe_sets() -> None:
    data = RecordingDataStore(connected=True)
    store = ConfigStore({"a": 1})
    data.observe_sets(store._observe_set)
    await data.set("plugins.cat.plug.config.early", 0)  # no instance yet: not a config write
    assert not store.writes.called
    store.for_instance("cat", "plug")
    await data.set("plugins.cat.plug.config.a", 2)
    await data.set("plugins.cat.plug.data.items", [1])  # set_data, not set_config
    await data.set("plugins.cat.other.config.a", 3)  # another plugin's config
    await data.set("plugins.cat.plug.config.nested.key", {"x": 1})
    assert store.writes == [
        ConfigWrite("a", 2, "plugins.cat.plug.config.a"),
        ConfigWrite("nested.key", {"x": 1}, "plugins.cat.plug.config.nested.key"),
    ]
    assert store.writes.called
    assert store.writes.call_count == 2
    assert store.writes.last.key == "nested.key"


@pytest.mark.asyncio
async def test_failed_set_is_not_a_config_write() -> None:
    data = RecordingDataStore(connected=True)
    store = ConfigStore()
    data.observe_sets(store._observe_set)
    store.for_instance("cat", "plug")
    data.fail_next("set")
    with pytest.raises(RuntimeError, match="injected fault"):
        await data.set("plugins.cat.plug.config.a", 1)
    assert store.writes == []


@pytest.mark.asyncio
async def test_writes_follow_the_latest_instance_name() -> None:
    data = RecordingDataStore(connected=True)
    store = ConfigStore()
    data.observe_sets(store._observe_set)
    store.for_instance("cat", "old")
    store.for_instance("cat", "new")
    await data.set("plugins.cat.old.config.a", 1)
    await data.set("plugins.cat.new.config.b", 2)
    assert [w.key for w in store.writes] == ["b"]


@pytest.mark.asyncio
async def test_writes_under_sql_fidelity_record_the_value_written() -> None:
    data = RecordingDataStore("sql", connected=True)
    store = ConfigStore()
    data.observe_sets(store._observe_set)
    store.for_instance("cat", "plug")
    await data.set("plugins.cat.plug.config.flag", True)
    assert store.writes.last == ConfigWrite("flag", True, "plugins.cat.plug.config.flag")
    assert await data.get("plugins.cat.plug.config.flag") == "True"


def test_writes_last_on_empty_names_the_problem() -> None:
    with pytest.raises(IndexError, match="nothing was recorded"):
        ConfigStore().writes.last  # noqa: B018


def test_repr_masks_secrets(manifest: Manifest) -> None:
    store = ConfigStore.from_manifest(manifest, {"api_key": "sk-very-secret-value"})
    text = repr(store)
    assert "sk-very-secret-value" not in text
    assert "'api_key': '***'" in text
    assert "'max_retries': 3" in text
    assert text.startswith("<ConfigStore values=")
    assert text.endswith("writes=0>")


def test_repr_masks_secret_with_explicit_keys() -> None:
    store = ConfigStore({"token": "abcd1234", "user": "bob"}, secret_keys=("token",))
    assert "abcd1234" not in repr(store)
    assert "'user': 'bob'" in repr(store)


def test_repr_counts_writes() -> None:
    store = ConfigStore()
    store.for_instance("c", "n")
    store._observe_set("plugins.c.n.config.k", 1)
    assert re.search(r"writes=1>$", repr(store))
