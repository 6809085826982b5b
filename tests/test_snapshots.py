"""Event and state snapshots (syrupy): the scrubbing rule, and stable snapshots across runs."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import uuid

import pytest

from nexus_testkit import RecordingDataStore, RecordingEventBus
from nexus_testkit.testing.snapshots import SCRUBBED_FIELDS, scrub, snapshot_data

from ._helpers import EXAMPLES, needs_platform

pytest.importorskip("syrupy")


def test_uuids_are_numbered_in_order_of_first_appearance() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    data = {
        "first": str(a),
        "again": a.hex,  # uuid4().hex is the same id
        "second": str(b).upper(),
        "inside": f"Task {a.hex} not found",
        f"plugin:x:{b.hex}": [str(a)],
    }
    assert scrub(data) == {
        "first": "<uuid:1>",
        "again": "<uuid:1>",
        "second": "<uuid:2>",
        "inside": "Task <uuid:1> not found",
        "plugin:x:<uuid:2>": ["<uuid:1>"],
    }


def test_datetimes_and_named_fields_are_scrubbed_and_the_rest_kept() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    data = {
        "created_at": when.isoformat(),
        "naive": "2026-01-02T03:04:05",
        "spaced": "due 2026-01-02 03:04",
        "object": when,
        "date_only": dt.date(2026, 1, 2),
        "id": 42,
        "correlation_id": None,
        "timestamp": 1735000000,
        "user_id": "u-1",  # only the three names are scrubbed whatever they hold
        "count": 3,
        "tags": ("a", "b"),
    }
    assert scrub(data) == {
        "created_at": "<datetime>",
        "naive": "<datetime>",
        "spaced": "due <datetime>",
        "object": "<datetime>",
        "date_only": dt.date(2026, 1, 2),
        "id": "<id>",
        "correlation_id": None,
        "timestamp": "<timestamp>",
        "user_id": "u-1",
        "count": 3,
        "tags": ["a", "b"],
    }
    assert frozenset({"id", "correlation_id", "timestamp"}) == SCRUBBED_FIELDS


@pytest.mark.asyncio
async def test_snapshot_data_of_the_recorders() -> None:
    bus = RecordingEventBus()
    await bus.publish("a.b", {"k": 1}, source="business.x")
    store = RecordingDataStore(connected=True)
    await store.set("plugin:x:k", {"v": [1]})
    assert snapshot_data(bus) == [
        {"name": "a.b", "source": "business.x", "priority": 5, "data": {"k": 1}}
    ]
    assert snapshot_data(bus.published) == snapshot_data(bus)
    assert snapshot_data(store) == {"plugin:x:k": {"v": [1]}}


def test_importing_the_module_does_not_import_syrupy() -> None:
    code = (
        "import sys, nexus_testkit.testing.snapshots as s; assert 'syrupy' not in sys.modules; "
        "s.NexusSnapshotExtension; assert 'syrupy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


SNAPSHOT_TEST = """
from nexus_testkit.testing.snapshots import health_output, openapi_paths


async def test_state(nexus_client, nexus_event_bus, nexus_data_store, nexus_app, nexus_plugin, nexus_snapshot):
    task = (await nexus_client.post("/tasks", json={"title": "Write", "owner": "u-1"})).json()
    await nexus_client.post(f"/tasks/{task['id']}/complete")
    assert nexus_event_bus.published == nexus_snapshot(name="events")
    assert nexus_data_store == nexus_snapshot(name="stored")
    assert openapi_paths(nexus_app) == nexus_snapshot(name="routes")
    assert await health_output(nexus_plugin) == nexus_snapshot(name="health")
"""


@needs_platform
def test_snapshots_are_stable_across_runs_and_a_real_change_is_a_diff(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under xdist, syrupy takes the inner run for a worker and leaves its report
    # to a controller that does not exist.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    plugin = pytester.path / "task_manager"
    shutil.copytree(EXAMPLES / "task_manager", plugin, ignore=shutil.ignore_patterns("tests"))
    (plugin / "tests").mkdir()
    (plugin / "tests" / "test_snap.py").write_text(SNAPSHOT_TEST)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "addopts = --import-mode=importlib\nfilterwarnings =\n    ignore::DeprecationWarning\n"
    )

    first = pytester.runpytest("--snapshot-update")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*4 snapshots generated*"])
    stored = (plugin / "tests" / "__snapshots__" / "test_snap.ambr").read_text()
    # Ids and times are placeholders; the task's id links the events and the store.
    assert "<uuid:1>" in stored
    assert "<datetime>" in stored
    assert "'task_manager.task_created'" in stored
    assert "'/api/plugins/task_manager/tasks/{task_id}/complete'" in stored

    # A second run makes new ids and timestamps: the same snapshots.
    second = pytester.runpytest()
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*4 snapshots passed*"])
    assert (plugin / "tests" / "__snapshots__" / "test_snap.ambr").read_text() == stored

    # A real change to what the plugin publishes is a diff naming the value.
    source = (plugin / "plugin.py").read_text()
    (plugin / "plugin.py").write_text(source.replace('via="api"', 'via="rest"'))
    third = pytester.runpytest()
    third.assert_outcomes(failed=1)
    third.stdout.fnmatch_lines(
        [
            "*1 snapshot failed*",
        ]
    )
    third.stdout.fnmatch_lines(["*- *'via': 'api',*", "*+ *'via': 'rest',*"])
