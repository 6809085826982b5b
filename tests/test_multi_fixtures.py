"""@pytest.mark.nexus_plugins: the nexus fixtures over several plugins, through pytester."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

# Imported by this run, not first inside a pytester inline run: the inline runs
# drop the modules they imported, and a class imported afresh by the next one
# is not the class nexus_testkit's lazy names already resolved to.
from nexus_testkit.host import PluginGroup

from ._helpers import MINIMAL_PLUGIN, minimal_manifest, write_plugin

CORPUS = Path(__file__).parent / "multi_plugins"
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """plugins/users and plugins/notifications of the corpus (plain classes, no platform)."""
    pytester.makeini(INI)
    for name in ("users", "notifications"):
        shutil.copytree(CORPUS / name, pytester.path / "plugins" / name)
    return pytester


def test_the_fixtures_over_two_plugins(project: pytest.Pytester) -> None:
    assert PluginGroup.__module__ == "nexus_testkit.host._group"
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugins("plugins/users", "plugins/notifications")

        async def test_together(nexus_host, nexus_client, nexus_event_bus, nexus_data_store,
                                nexus_services, nexus_plugin, nexus_manifest):
            assert nexus_manifest.name == "users"
            assert nexus_plugin is nexus_host.plugins["users"]
            assert nexus_host.event_bus is nexus_event_bus
            await nexus_client.post("/users", json={"name": "ada"})
            sent = await nexus_host.client_for("notifications").get("/sent")
            assert sent.json() == {"sent": ["ada"]}
            nexus_event_bus.assert_published("user.created", source="users")
            assert [e.name for e in nexus_event_bus.published.by("notifications")] == [
                "plugin.started", "notification.sent"]
            assert [o.key for o in nexus_data_store.operations.by("notifications")] == [
                "notifications:ada"]
            assert nexus_services.calls.by("users").last.name == "users.directory"

        async def test_restart_one(nexus_host):
            kept = nexus_host.plugins["notifications"]
            await nexus_host.restart("users")
            assert nexus_host.plugins["notifications"] is kept
        """
    )
    project.runpytest().assert_outcomes(passed=2)


def test_a_missing_dependency_fails_the_test_naming_the_manifest(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugins("plugins/notifications")
        def test_alone(nexus_host):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*/plugins/notifications/manifest.json: 'notifications' depends on "
            "'users', which is not among the plugins given (notifications)",
            "Add the plugin it depends on to the host, or remove it from the manifest's "
            "dependencies.",
        ]
    )
    result.stdout.no_fnmatch_line("*nexus_testkit/*")  # no harness frame
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_a_cycle_fails_the_test_naming_the_manifests(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    write_plugin(pytester.path / "plugins", "a", manifest=minimal_manifest("a", dependencies=["b"]))
    write_plugin(
        pytester.path / "plugins",
        "b",
        manifest=minimal_manifest("b", dependencies={"plugins": ["a"]}),
    )
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugins("plugins/a", "plugins/b")
        def test_cycle(nexus_client):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "the plugins' dependencies form a cycle: a -> b -> a",
            "- *plugins/a/manifest.json: 'a' depends on 'b'",
            "- *plugins/b/manifest.json: 'b' depends on 'a'",
            "No plugin of a cycle can start first: remove one of these dependencies.",
        ]
    )


LEAKY = MINIMAL_PLUGIN.replace(
    "        self.initialized = True\n        return True",
    "        import asyncio\n"
    "        self.initialized = True\n"
    "        self._task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))\n"
    "        return True",
)


def test_a_leak_at_teardown_names_the_plugin(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "leaky", source=LEAKY)
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugins("plugins/users", "plugins/leaky", "plugins/notifications")
        async def test_leak(nexus_client):
            await nexus_client.post("/users", json={"name": "ada"})
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*Plugin 'leaky' (*plugins/leaky) did not shut down cleanly:",
            "- task still pending after shutdown: Task-* running sleep() created at "
            "*plugins/leaky/plugin.py:* in initialize",
        ]
    )
    result.stdout.no_fnmatch_line("*Plugin 'users'*")
    result.stdout.no_fnmatch_line("*Plugin 'notifications'*")


def test_per_plugin_configuration_and_nexus_config_for_the_first(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    option = {"sender": {"type": "string", "default": "noreply"}}
    for name in ("first", "second"):
        write_plugin(
            pytester.path / "plugins", name, manifest=minimal_manifest(name, configuration=option)
        )
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_config(sender="first@example.org")
        @pytest.mark.nexus_plugins(
            "plugins/first", "plugins/second", config={"second": {"sender": "ops"}}
        )
        async def test_config(nexus_host, nexus_config):
            assert nexus_config == {"sender": "first@example.org"}
            assert nexus_host.plugins["first"].config == {"sender": "first@example.org"}
            assert nexus_host.plugins["second"].config == {"sender": "ops"}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "nexus_plugins()",
            "*@pytest.mark.nexus_plugins takes plugin directories and config= *",
        ),
        (
            'nexus_plugins("plugins/users", "plugins/nope")',
            "*@pytest.mark.nexus_plugins('plugins/nope'): no such directory (tried *)",
        ),
        (
            'nexus_plugins("plugins/users", config={"users": 1})',
            "*@pytest.mark.nexus_plugins(config=...) maps a plugin name to its configuration*",
        ),
        (
            'nexus_plugins("plugins/users", config={"billing": {}})',
            "*config names 'billing', which is not among the plugins of this host (users)",
        ),
        (
            'nexus_plugins("plugins/users", config={"users": {}})',
            "*plugin 'users' was given both a config and a config store; give one "
            "(under pytest, @pytest.mark.nexus_config configures the first plugin of "
            "@pytest.mark.nexus_plugins)",
        ),
    ],
)
def test_bad_markers_fail_the_test_with_one_message(
    project: pytest.Pytester, marker: str, message: str
) -> None:
    project.makepyfile(
        test_it=f"""
        import pytest

        @pytest.mark.{marker}
        def test_it(nexus_host):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_the_examples_of_the_docs_page_run(project: pytest.Pytester) -> None:
    page = Path(__file__).parent.parent / "docs" / "several-plugins.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)
    assert blocks
    expected = 0
    for i, block in enumerate(blocks):
        project.makepyfile(**{f"test_doc_{i}": block})
        expected += len(re.findall(r"^(?:async )?def test_", block, re.MULTILINE))
    project.runpytest("-p", "no:randomly", "-W", "error").assert_outcomes(passed=expected)
