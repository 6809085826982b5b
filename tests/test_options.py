"""Host options, validated once by the library, and what the pytest layer makes of them:
usage errors, marker merging, undeclared configuration keys, standalone fakes, raw logs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_testkit import HostOptions, NexusOptionsError, NexusTestkitError, PluginHost
from nexus_testkit.host import discover_plugins, plugin_dir_problem

from ._helpers import MINIMAL_PLUGIN, minimal_manifest, write_plugin

INI_AUTO = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

CONFIGURED = minimal_manifest(
    "stock",
    configuration={
        "low_stock_threshold": {"type": "integer", "default": 5},
        "api_key": {"type": "string", "secret": True},
        "region": {"type": "string", "default": "eu"},
    },
)

LOGGING_PLUGIN = MINIMAL_PLUGIN.replace(
    "        self.initialized = True\n",
    "        self.initialized = True\n"
    "        import logging\n"
    "        logging.getLogger('nexus.plugins.stock').info('key is %s', self.config.get('api_key'))\n",
)


# ---------------------------------------------------------------------------- the library


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"timeout": 0},
            "timeout=0 is not valid. Valid values: a positive number of seconds or None.",
        ),
        ({"timeout": True}, "timeout=True is not valid."),
        ({"detect_blocking": -1}, "detect_blocking=-1 is not valid."),
        ({"fidelity": "disk"}, "fidelity='disk' is not valid. Valid values: memory, sql."),
        ({"delivery": "sync"}, "delivery='sync' is not valid. Valid values: inline, queued."),
        ({"backend": "real"}, "backend='real' is not valid. Valid values: fake, platform."),
        ({"mask_logs": "no"}, "mask_logs='no' is not valid. Valid values: True, False."),
        ({"db_url": "sqlite://"}, "db_url='sqlite://' needs backend='platform'"),
    ],
)
def test_host_options_name_the_bad_value_and_the_valid_ones(changes, message) -> None:
    with pytest.raises(NexusOptionsError) as info:
        HostOptions(**changes)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, (NexusTestkitError, ValueError))


def test_host_options_are_frozen_and_replace_refuses_unknown_names() -> None:
    options = HostOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 1  # type: ignore[misc]
    assert options.replace(timeout=1).timeout == 1
    with pytest.raises(NexusOptionsError) as info:
        options.replace("@pytest.mark.nexus_host", timout=1)
    assert str(info.value) == (
        "@pytest.mark.nexus_host got 'timout'; valid options: "
        + ", ".join(f.name for f in dataclasses.fields(HostOptions))
        + "."
    )


def test_asking_for_the_fakes_drops_the_sessions_database_url() -> None:
    # A session run with --nexus-backend=platform --nexus-db-url=...: a test
    # marked nexus_host(backend="fake") runs on the fakes, which have no database.
    session = HostOptions(backend="platform", db_url="postgresql+asyncpg://u@127.0.0.1/db")
    fake = session.replace("@pytest.mark.nexus_host", backend="fake")
    assert (fake.backend, fake.db_url) == ("fake", None)
    # Naming both is still the contradiction it was.
    with pytest.raises(NexusOptionsError, match="needs backend='platform'"):
        session.replace(backend="fake", db_url="sqlite+aiosqlite:///x.db")


def test_host_options_from_text_parse_and_name_the_origin() -> None:
    options = HostOptions.from_text(
        {"timeout": "2.5", "fidelity": "sql", "allow_network": "yes", "db_url": ""}
    )
    assert (options.timeout, options.fidelity, options.allow_network) == (2.5, "sql", True)
    with pytest.raises(NexusOptionsError) as info:
        HostOptions.from_text({"timeout": "soon"}, {"timeout": "--timeout"})
    assert str(info.value) == (
        "--timeout: timeout='soon' is not valid. Valid values: a positive number of seconds."
    )


def test_discovery_is_one_check_for_every_caller(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "plugins", "mini")
    (tmp_path / "empty").mkdir()
    assert plugin_dir_problem(plugin) is None
    assert plugin_dir_problem(tmp_path / "nope") == "no such directory"
    assert plugin_dir_problem(plugin / "plugin.py") == "is a file; expected a plugin directory"
    assert plugin_dir_problem(tmp_path / "empty") == (
        "not a plugin directory (it holds neither manifest.json nor plugin.py)"
    )
    assert discover_plugins([("ini", "plugins/*"), ("cli", plugin)], tmp_path) == [plugin]
    with pytest.raises(NexusOptionsError, match=r"^ini: matches no directory under "):
        discover_plugins([("ini", "nothing/*")], tmp_path)
    with pytest.raises(NexusOptionsError, match=r"^--nexus-plugin=empty: not a plugin directory"):
        discover_plugins([("--nexus-plugin=empty", "empty")], tmp_path)


@pytest.mark.asyncio
async def test_log_lines_mask_unless_asked_for_the_raw_records(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "stock", source=LOGGING_PLUGIN, manifest=CONFIGURED)
    secret = "sk-live-0123456789"
    async with PluginHost(path, HostOptions(mask_logs=False), config={"api_key": secret}) as host:
        pass
    assert any(line.endswith(f"key is {secret}") for line in host.log_lines(mask=False))
    assert any(line.endswith("key is ***") for line in host.log_lines())
    # Masked when made (the default): the raw view has nothing else to show.
    async with PluginHost(path, config={"api_key": secret}) as host:
        pass
    assert any(line.endswith("key is ***") for line in host.log_lines(mask=False))
    assert not any(secret in line for line in host.log_lines(mask=False))


@pytest.mark.asyncio
async def test_an_undeclared_config_key_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "stock", manifest=CONFIGURED)
    with pytest.raises(NexusOptionsError) as info:
        PluginHost(path, config={"low_stok_threshold": 3})
    assert str(info.value).startswith(
        f"config: 'low_stok_threshold' is not declared in {path / 'manifest.json'}; "
        "declared keys: low_stock_threshold, api_key, region."
    )
    host = PluginHost(path, HostOptions(allow_undeclared=True), config={"low_stok_threshold": 3})
    assert host.config_store.values["low_stok_threshold"] == 3


def test_cli_options_errors_are_usage_errors(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path, "mini")
    for args, message in [
        (["--timeout", "soon"], "error: --timeout: timeout='soon' is not valid."),
        (["--backend", "real"], "error: --backend: backend='real' is not valid."),
        (["--skip", "routes.get_ok"], "error: --skip: 'routes.get_ok' is not a valid skip."),
        (["--skip", "routes.nope=why"], "error: 'routes.nope' is not a contract check."),
    ]:
        run = subprocess.run(
            [sys.executable, "-m", "nexus_testkit", "check", str(plugin), *args],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.startswith(message), (args, run.stderr)


# ---------------------------------------------------------------------------- pytest


@pytest.fixture
def stock(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI_AUTO)
    write_plugin(pytester.path / "plugins", "stock", source=LOGGING_PLUGIN, manifest=CONFIGURED)
    return pytester


def test_a_misspelt_nexus_config_key_fails_listing_the_declared_keys(stock) -> None:
    stock.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/stock")

        @pytest.mark.nexus_config(low_stok_threshold=3)
        async def test_typo(nexus_client):
            pass

        @pytest.mark.nexus_config(low_stok_threshold=3)
        async def test_typo_factory(nexus_host_factory):
            async with nexus_host_factory():
                pass

        @pytest.mark.nexus_host(allow_undeclared=True)
        @pytest.mark.nexus_config(low_stok_threshold=3)
        async def test_on_purpose(nexus_host):
            assert nexus_host.plugin.config["low_stok_threshold"] == 3
        """
    )
    result = stock.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_typo _*",
            "nexus_config: 'low_stok_threshold' is not declared in */plugins/stock/manifest.json; "
            "declared keys: low_stock_threshold, api_key, region. To give an undeclared key on "
            "purpose, pass allow_undeclared=True (@pytest.mark.nexus_host(allow_undeclared=True)).",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_typo_factory _*",
            "nexus_config: 'low_stok_threshold' is not declared in */plugins/stock/manifest.json; "
            "declared keys: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_markers_merge_from_all_levels_closest_wins_per_key(stock) -> None:
    # One rule for nexus_host and nexus_config.
    stock.makepyfile(
        test_it="""
        import pytest

        pytestmark = [
            pytest.mark.nexus_plugin("plugins/stock"),
            pytest.mark.nexus_config(region="us", low_stock_threshold=1),
            pytest.mark.nexus_host(timeout=2, allow_handler_errors=True),
        ]

        @pytest.mark.nexus_config(region="ap")
        @pytest.mark.nexus_host(timeout=3)
        class TestIt:
            @pytest.mark.nexus_config(low_stock_threshold=9)
            async def test_merged(self, nexus_host, nexus_config):
                assert nexus_config["region"] == "ap"
                assert nexus_config["low_stock_threshold"] == 9
                assert nexus_host.options.timeout == 3
                assert nexus_host.options.allow_handler_errors is True
        """
    )
    stock.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_a_component_alone_is_a_standalone_fake(stock) -> None:
    stock.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/stock")

        def test_alone(nexus_event_bus, nexus_data_store, nexus_services):
            assert nexus_event_bus.published == ["the plugin's event"], repr(nexus_event_bus)

        async def test_with_a_host(nexus_event_bus, nexus_client):
            assert "standalone" not in repr(nexus_event_bus)
        """
    )
    result = stock.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "nexus_event_bus = <RecordingEventBus standalone: no plugin runs; delivery=inline*>",
            "nexus_data_store = <RecordingDataStore standalone: no plugin runs; fidelity=memory*>",
            "nexus_services = <RecordingServiceRegistry standalone: no plugin runs; services=[]>",
            "E       AssertionError: <RecordingEventBus standalone: no plugin runs; *",
        ]
    )


def test_bad_marker_options_fail_the_test_with_the_librarys_message(stock) -> None:
    stock.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/stock")
        @pytest.mark.nexus_host(fidelity="disk")
        async def test_it(nexus_client):
            pass
        """
    )
    result = stock.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_it _*",
            "@pytest.mark.nexus_host: fidelity='disk' is not valid. Valid values: memory, sql.",
        ]
    )


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("nexus_timeout = soon", "ERROR: nexus_timeout (ini): timeout='soon' is not valid.*"),
        ("nexus_backend = real", "ERROR: nexus_backend (ini): backend='real' is not valid.*"),
        (
            "nexus_plugins = nowhere/*",
            "ERROR: nexus_plugins: nowhere/*: matches no directory under *",
        ),
        (
            "nexus_skip = routes.nope=why",
            "ERROR: 'routes.nope' is not a contract check. Valid checks: *",
        ),
    ],
)
def test_ini_options_errors_are_usage_errors(pytester: pytest.Pytester, ini, message) -> None:
    pytester.makeini(INI_AUTO + ini + "\n")
    pytester.makepyfile(test_it="def test_it():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
