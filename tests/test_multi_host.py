"""PluginHost([...]): several plugins over one bus, store and registry (host._group, _members, _views).

The corpus is tests/multi_plugins: ``users`` (registers users.directory, publishes
user.created), ``notifications`` (depends on users in the map form, subscribes to
user.created, uses users.directory) and ``audit`` (a BasePlugin depending on
``accounts.users`` as a list of objects; needs_platform).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_testkit import (
    NexusAssertionError,
    NexusLeftoverWarning,
    PluginDependencyError,
    PluginHost,
    PluginStartError,
    RecordingEventBus,
)
from nexus_testkit.host import PluginGroup

from ._helpers import MINIMAL_PLUGIN, minimal_manifest, needs_platform, write_plugin

pytestmark = pytest.mark.asyncio

CORPUS = Path(__file__).parent / "multi_plugins"
USERS = CORPUS / "users"
NOTIFICATIONS = CORPUS / "notifications"
AUDIT = CORPUS / "audit"


def lifecycle(bus: RecordingEventBus) -> list[tuple[str, str]]:
    return [(e.name, e.data["name"]) for e in bus.published if e.name.startswith("plugin.")]


async def test_a_list_of_paths_is_a_group_and_one_path_stays_a_plugin_host() -> None:
    assert type(PluginHost(USERS)) is PluginHost
    group = PluginHost([USERS, NOTIFICATIONS])
    assert isinstance(group, PluginGroup)
    assert group.names == ["users", "notifications"]


async def test_plugins_start_in_dependency_order_and_stop_in_reverse() -> None:
    # Given dependent first: notifications needs users' service in initialize().
    async with PluginHost([NOTIFICATIONS, USERS]) as host:
        assert host.names == ["users", "notifications"]
        assert lifecycle(host.event_bus) == [
            ("plugin.started", "users"),
            ("plugin.started", "notifications"),
        ]
        # The fixtures' single-plugin names are the first path's.
        assert host.name == "notifications"
        assert host.plugin is host.plugins["notifications"]
    assert lifecycle(host.event_bus)[2:] == [
        ("plugin.stopped", "notifications"),
        ("plugin.stopped", "users"),
    ]
    host.verify()


async def test_plugins_share_one_bus_one_registry_and_one_store() -> None:
    async with PluginHost([USERS, NOTIFICATIONS]) as host:
        users, notifications = host.plugins["users"], host.plugins["notifications"]
        assert notifications.directory is host.services.get("users.directory")
        assert notifications.directory is users.directory
        response = await host.client_for("users").post("/users", json={"name": "ada"})
        assert response.json() == {"created": "ada"}
        # users' publish reached notifications' handler on the same bus...
        assert (await host.client_for("notifications").get("/sent")).json() == {"sent": ["ada"]}
        # ... which read users' service and wrote to the same store.
        assert host.data_store.data["notifications:ada"] == {"known": True}
        assert host.data_store.data["users:ada"] == {"name": "ada"}
        base = host.client_for("notifications").base_url
        assert str(base) == "http://testserver/api/plugins/notifications/"
        assert host.client is host.client_for("users")
    host.verify()


async def test_every_record_says_which_plugin_made_it() -> None:
    async with PluginHost([USERS, NOTIFICATIONS]) as host:
        await host.client_for("users").post("/users", json={"name": "ada"})
        await host.event_bus.publish("test.poke", {})  # the test's own: no plugin's
        bus = host.event_bus
        assert [e.name for e in bus.published.by("users")] == ["plugin.started", "user.created"]
        assert [e.name for e in bus.published.by("notifications")] == [
            "plugin.started",
            "notification.sent",
        ]
        assert bus.published.origin(bus.published.last) is None
        assert [s.event_name for s in bus.subscription_calls.by("notifications")] == [
            "user.created"
        ]
        assert [(o.op, o.key) for o in host.data_store.operations.by("users")] == [
            ("set", "users:count"),
            ("set", "users:ada"),
        ]
        assert [o.key for o in host.data_store.operations.by("notifications")] == [
            "notifications:ada"
        ]
        assert [(c.op, c.name) for c in host.services.calls.by("users")] == [
            ("register", "users.directory")
        ]
        assert host.services.calls.by("notifications") == []
        bus.assert_published("user.created", source="users")
        bus.assert_published("notification.sent", {"to": "ada"}, times=1, source="notifications")
        with pytest.raises(NexusAssertionError) as info:
            bus.assert_published("user.created", source="notifications")
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "Expected event 'user.created' from 'notifications' to be published at least once, "
        "but it was never published."
    )
    assert "- user.created {'name': 'ada'} (source: accounts.users, by users)" in lines
    assert "- test.poke {} (source: None, by the test)" in lines


async def test_records_of_a_single_plugin_host_do_not_claim_an_origin(make_plugin) -> None:
    async with PluginHost(make_plugin()) as host:
        await host.event_bus.publish("x", {}, source="test.mini")
        with pytest.raises(LookupError, match=r"only the components of a host of several"):
            host.event_bus.published.by("mini")
        # Without attribution, source= is the event's own source (name or category.name).
        host.event_bus.assert_published("x", source="mini")
        host.event_bus.assert_published("x", source="test.mini")


async def test_restarting_one_plugin_leaves_the_others_running() -> None:
    async with PluginHost([USERS, NOTIFICATIONS]) as host:
        before = dict(host.plugins)
        await host.restart("users")
        assert host.plugins["users"] is not before["users"]
        assert host.plugins["notifications"] is before["notifications"]
        assert lifecycle(host.event_bus) == [
            ("plugin.started", "users"),
            ("plugin.started", "notifications"),
            ("plugin.stopped", "users"),
            ("plugin.started", "users"),
        ]
        # The new users serves its routes; notifications still hears it on the shared bus.
        await host.client_for("users").post("/users", json={"name": "bo"})
        assert host.plugins["notifications"].sent == ["bo"]
        with pytest.raises(KeyError, match="no plugin named 'billing' in this host"):
            await host.restart("billing")
    host.verify()


async def test_a_missing_dependency_is_one_error_naming_the_manifest() -> None:
    with pytest.raises(PluginDependencyError) as info:
        PluginHost([NOTIFICATIONS])
    assert str(info.value).splitlines()[0] == (
        f"{NOTIFICATIONS / 'manifest.json'}: 'notifications' depends on 'users', which is "
        "not among the plugins given (notifications)"
    )


async def test_a_cycle_is_one_error_naming_the_manifests(tmp_path: Path) -> None:
    a = write_plugin(tmp_path, "a", manifest=minimal_manifest("a", dependencies=["b"]))
    b = write_plugin(tmp_path, "b", manifest=minimal_manifest("b", dependencies={"plugins": ["a"]}))
    with pytest.raises(PluginDependencyError) as info:
        PluginHost([a, b])
    assert str(info.value).splitlines()[:3] == [
        "the plugins' dependencies form a cycle: a -> b -> a",
        f"- {a / 'manifest.json'}: 'a' depends on 'b'",
        f"- {b / 'manifest.json'}: 'b' depends on 'a'",
    ]


async def test_two_plugins_of_one_name_are_an_error(tmp_path: Path) -> None:
    one = write_plugin(tmp_path / "one", "mini")
    two = write_plugin(tmp_path / "two", "mini")
    with pytest.raises(PluginDependencyError, match="two plugins are named 'mini'"):
        PluginHost([one, two])


LEAKY = MINIMAL_PLUGIN.replace(
    "        self.initialized = True\n        return True",
    "        import asyncio\n"
    "        self.initialized = True\n"
    "        self._task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))\n"
    "        self.event_bus.subscribe('user.created', self.on_user)\n"
    "        self.service_registry.register('leaky.cache', object())\n"
    "        self._registered_services = {'leaky.cache'}\n"
    "        return True\n\n"
    "    async def on_user(self, event):\n"
    "        pass",
).replace('self.name = "mini"', 'self.name = "leaky"')


async def test_leaks_at_teardown_name_the_plugin_that_leaked(tmp_path: Path) -> None:
    leaky = write_plugin(tmp_path, "leaky", source=LEAKY)
    host = PluginHost([USERS, leaky, NOTIFICATIONS])
    async with host:
        pass
    with pytest.raises(NexusAssertionError) as info:
        host.verify()
    text = str(info.value)
    assert text.startswith(f"Plugin 'leaky' ({leaky}) did not shut down cleanly:\n- task ")
    assert "users" not in text
    assert "notifications" not in text
    # users' and notifications' own tasks and shutdowns were clean: only leaky's report.
    assert host.members["users"].leftovers.errors() == []
    with pytest.warns(NexusLeftoverWarning) as record:
        host.warn()
    (warning,) = [str(w.message) for w in record]
    assert warning.splitlines() == [
        "Plugin 'leaky' left these behind after shutdown():",
        "- handler still subscribed to 'user.created': "
        f"MiniPlugin.on_user ({leaky / 'plugin.py'}:{_line(leaky, 'async def on_user')})",
        "- service still registered: 'leaky.cache'",
        "The platform keeps them alive after the plugin is unloaded; remove them in "
        "shutdown() (unsubscribe_from_event, service_registry.unregister).",
    ]


async def test_a_leak_is_blamed_on_its_plugin_whatever_the_paths_spell(tmp_path: Path) -> None:
    # "home/tests/../../leaky" begins with the text of "home/tests/..": the frames of
    # leaky's plugin.py, imported by that path, must not count as home's.
    home = write_plugin(tmp_path / "plugins", "home")
    (home / "tests").mkdir()
    write_plugin(tmp_path / "plugins", "leaky", source=LEAKY)
    host = PluginHost([home / "tests" / "..", home / "tests" / ".." / ".." / "leaky"])
    async with host:
        pass
    with pytest.raises(NexusAssertionError) as info:
        host.verify()
    assert str(info.value).startswith("Plugin 'leaky' (")
    assert host.members["home"].leftovers.errors() == []


def _line(directory: Path, text: str) -> int:
    lines = (directory / "plugin.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


async def test_a_plugin_failing_to_start_stops_those_already_started(tmp_path: Path) -> None:
    broken = write_plugin(
        tmp_path,
        "broken",
        source=MINIMAL_PLUGIN.replace("return True", "return False", 1),
        manifest=minimal_manifest("broken", dependencies=["users"]),
    )
    host = PluginHost([USERS, broken])
    with pytest.raises(PluginStartError, match="initialize\\(\\) returned False"):
        await host.start()
    assert lifecycle(host.event_bus) == [("plugin.started", "users"), ("plugin.stopped", "users")]
    assert host.closed


async def test_per_plugin_configuration(tmp_path: Path) -> None:
    manifest = minimal_manifest(
        "configured", configuration={"sender": {"type": "string", "default": "noreply"}}
    )
    configured = write_plugin(tmp_path, "configured", manifest=manifest)
    async with PluginHost([USERS, configured], config={"configured": {"sender": "ops"}}) as host:
        assert host.plugins["configured"].config == {"sender": "ops"}


@needs_platform
async def test_a_base_plugin_depending_on_category_and_name() -> None:
    async with PluginHost([AUDIT, NOTIFICATIONS, USERS]) as host:
        assert host.names == ["users", "audit", "notifications"]
        await host.client_for("users").post("/users", json={"name": "ada"})
        assert (await host.client_for("audit").get("/entries")).json() == {"entries": ["ada"]}
        # BasePlugin.publish_event's own source is category.name; the origin is the plugin.
        (event,) = host.event_bus.assert_published("audit.recorded", source="audit")
        assert event.source == "compliance.audit"
        assert [c.name for c in host.services.calls.by("audit")] == ["audit.log"]
    host.verify()


@needs_platform
async def test_the_platform_backend_shares_its_components_too() -> None:
    from nexus_testkit import HostOptions

    async with PluginHost([USERS, NOTIFICATIONS], HostOptions(backend="platform")) as host:
        await host.client_for("users").post("/users", json={"name": "ada"})
        assert host.plugins["notifications"].sent == ["ada"]
        host.event_bus.assert_published("notification.sent", source="notifications")
        assert [o.key for o in host.data_store.operations.by("notifications")] == [
            "notifications:ada"
        ]
    host.verify()


def _logging(name: str, *, start: bool = True) -> str:
    return MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        import logging\n"
        f"        logging.getLogger(__name__).error('{name} says hello')\n"
        f"        self.initialized = True\n        return {start}",
    )


async def test_a_start_error_shows_the_failing_plugins_log_lines_only(tmp_path: Path) -> None:
    chatty = write_plugin(tmp_path, "chatty", source=_logging("chatty"))
    failing = write_plugin(tmp_path, "failing", source=_logging("failing", start=False))
    host = PluginHost([chatty, failing])
    with pytest.raises(PluginStartError) as info:
        await host.start()
    assert info.value.path == failing / "plugin.py"
    assert [line.split(":", 1)[1] for line in info.value.log_lines] == [" failing says hello"]
    assert len(host.log_lines()) == 2  # the host's own lines are every plugin's


async def test_the_failure_report_says_who_recorded_what() -> None:
    async with PluginHost([USERS, NOTIFICATIONS]) as host:
        await host.client_for("users").post("/users", json={"name": "ada"})
        report = host.describe_recorded().splitlines()
    assert "- user.created {'name': 'ada'} (source: accounts.users, by users)" in report
    assert "- set 'notifications:ada' = {'known': True} (by notifications)" in report
    assert "- set 'users:ada' = {'name': 'ada'} (by users)" in report
