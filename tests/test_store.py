"""Unit tests of nexus_testkit.fakes._store (RecordingDataStore).

Both fidelities are run side by side with the platform's adapters:
``memory`` against ``nexus.database.MemoryAdapter`` and ``sql`` against
``nexus.database.SQLAlchemyAdapter`` on a SQLite file.  Where the two differ,
the test asserts what the platform does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from nexus_testkit import DataOperation, NexusAssertionError, RecordingDataStore, sql_round_trip
from nexus_testkit._masking import MASK, Masker
from nexus_testkit.fakes._store import OPERATIONS, sql_deserialise, sql_serialise

from ._helpers import PlatformModule, needs_platform

nexus_database = PlatformModule("nexus.database")

FIDELITIES = ["memory", "sql"]

VALUES: list[Any] = [
    True,
    False,
    None,
    0,
    1.5,
    "42",
    "true",
    "null",
    "text",
    "",
    [1, 2],
    (1, 2),
    {"a": [1, {"b": None}]},
    [{"x": [1, 2]}, {"y": {"z": "w", "n": 1.25}}, []],
    {"deep": {"er": {"est": [True, False, None, "s"]}}},
    -7,
    10**20,
    "  7 ",
    '{"k": 1}',
    "[1, 2]",
    "NaN-ish",
]
VALUE_IDS = [repr(v)[:30] for v in VALUES]

KEYS = ["abc", "aXc", "ABC", "a%c", "a_c", "abbc", "b", "Abc", "a", "ac", "xabc", "a.c"]
PATTERNS = ["*", "a*", "a?c", "A*", "a%c", "a_c", "*c", "?", "", "ab*", "a.c", "[a]bc", "abc"]


def sqlite_adapter(tmp_path: Path, name: str = "db.sqlite") -> Any:
    config = nexus_database.DatabaseConfig(type="sqlite", path=str(tmp_path / name))
    return nexus_database.SQLAlchemyAdapter(config)


@pytest_asyncio.fixture
async def real_sql(tmp_path: Path) -> AsyncIterator[Any]:
    adapter = sqlite_adapter(tmp_path)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


@pytest_asyncio.fixture(params=FIDELITIES)
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """A connected RecordingDataStore and the platform adapter it stands in for."""
    fidelity = request.param
    recording = RecordingDataStore(fidelity)
    real = nexus_database.MemoryAdapter() if fidelity == "memory" else sqlite_adapter(tmp_path)
    await recording.connect()
    await real.connect()
    try:
        yield recording, real
    finally:
        await real.disconnect()


async def both(pair: tuple[Any, Any], op: str, *args: Any) -> tuple[Any, Any]:
    recording, real = pair
    return await getattr(recording, op)(*args), await getattr(real, op)(*args)


# --------------------------------------------------------------------------- side by side


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("value", VALUES, ids=VALUE_IDS)
async def test_value_round_trip_matches_platform(pair: tuple[Any, Any], value: Any) -> None:
    recording, real = pair
    await both(pair, "set", "key", value)
    got, expected = await both(pair, "get", "key")
    assert got == expected
    assert type(got) is type(expected)
    assert await recording.exists("key") is await real.exists("key") is True


@needs_platform
@pytest.mark.asyncio
async def test_sql_fidelity_reads_back_like_the_sql_adapter(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)
    expected = {
        True: "True",
        False: "False",
        None: "None",
        "42": 42,
        "true": True,
        "null": None,
        (1, 2): [1, 2],
    }
    for value, read_back in expected.items():
        await store.set("k", value)
        await real_sql.set("k", value)
        assert await real_sql.get("k") == read_back
        assert await store.get("k") == read_back
        assert sql_round_trip(value) == read_back


@needs_platform
@pytest.mark.asyncio
async def test_get_default_matches_platform(pair: tuple[Any, Any]) -> None:
    assert await both(pair, "get", "missing") == (None, None)
    assert await both(pair, "get", "missing", 5) == (5, 5)
    assert await both(pair, "get", "missing", [1]) == ([1], [1])
    # A stored falsy value is returned, not the default.
    await both(pair, "set", "zero", 0)
    assert await both(pair, "get", "zero", 99) == (0, 0)
    await both(pair, "set", "null", "null")
    got, expected = await both(pair, "get", "null", 99)
    assert got == expected  # None under sql (json.loads), the string under memory
    assert expected == (None if pair[0].fidelity == "sql" else "null")


@needs_platform
@pytest.mark.asyncio
async def test_overwrite_matches_platform(pair: tuple[Any, Any]) -> None:
    await both(pair, "set", "k", 1)
    await both(pair, "set", "k", {"v": 2})
    got, expected = await both(pair, "get", "k")
    assert got == expected == {"v": 2}
    got, expected = await both(pair, "list_keys")
    assert got == expected == ["k"]


@needs_platform
@pytest.mark.asyncio
async def test_delete_and_exists_match_platform(pair: tuple[Any, Any]) -> None:
    await both(pair, "set", "a", 1)
    await both(pair, "set", "b", 2)
    assert await both(pair, "exists", "a") == (True, True)
    assert await both(pair, "delete", "a") == (None, None)
    assert await both(pair, "exists", "a") == (False, False)
    assert await both(pair, "get", "a") == (None, None)
    assert await both(pair, "delete", "never-there") == (None, None)  # no error
    assert await both(pair, "exists", "b") == (True, True)
    assert await both(pair, "exists", "") == (False, False)


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_list_keys_matches_platform(pair: tuple[Any, Any], pattern: str) -> None:
    for key in KEYS:
        await both(pair, "set", key, 1)
    got, expected = await both(pair, "list_keys", pattern)
    assert got == expected


@needs_platform
@pytest.mark.asyncio
async def test_list_keys_default_pattern(pair: tuple[Any, Any]) -> None:
    for key in ["b", "a", "c"]:
        await both(pair, "set", key, 1)
    recording, real = pair
    assert await recording.list_keys() == await real.list_keys()


@needs_platform
@pytest.mark.asyncio
async def test_list_keys_case_and_wildcards_under_sql(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)
    for key in ["abc", "ABC", "a%c", "a_c", "abbc"]:
        await store.set(key, 1)
        await real_sql.set(key, 1)
    # SQL LIKE: * and ? become % and _, a literal % or _ is a wildcard, ASCII case folds.
    assert (
        await store.list_keys("A*")
        == await real_sql.list_keys("A*")
        == [
            "ABC",
            "a%c",
            "a_c",
            "abbc",
            "abc",
        ]
    )
    assert await store.list_keys("a%c") == await real_sql.list_keys("a%c")
    assert "abbc" in await store.list_keys("a%c")
    assert await store.list_keys("a_c") == await real_sql.list_keys("a_c")
    assert "abc" in await store.list_keys("a_c")


@needs_platform
@pytest.mark.asyncio
async def test_list_keys_under_memory_is_fnmatch() -> None:
    real = nexus_database.MemoryAdapter()
    store = RecordingDataStore(connected=True)
    await real.connect()
    for key in ["abc", "ABC", "a%c", "a_c", "abbc"]:
        await store.set(key, 1)
        await real.set(key, 1)
    assert await store.list_keys("A*") == await real.list_keys("A*") == ["ABC"]
    assert await store.list_keys("a%c") == await real.list_keys("a%c") == ["a%c"]
    assert await store.list_keys("a_c") == await real.list_keys("a_c") == ["a_c"]
    assert await store.list_keys("a?c") == await real.list_keys("a?c") == ["abc", "a%c", "a_c"]
    await real.disconnect()


@needs_platform
@pytest.mark.asyncio
async def test_list_keys_non_ascii_case_under_sql(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)
    for key in ["\u00e9t\u00e9", "\u00c9T\u00c9", "ete"]:
        await store.set(key, 1)
        await real_sql.set(key, 1)
    for pattern in ["\u00e9*", "\u00c9*", "E*", "?t?"]:
        assert await store.list_keys(pattern) == await real_sql.list_keys(pattern), pattern


@needs_platform
@pytest.mark.asyncio
async def test_clear_matches_platform(pair: tuple[Any, Any]) -> None:
    for key in KEYS[:4]:
        await both(pair, "set", key, key)
    assert await both(pair, "clear") == (None, None)
    assert await both(pair, "list_keys") == ([], [])
    assert await both(pair, "get", KEYS[0]) == (None, None)


@needs_platform
@pytest.mark.asyncio
async def test_health_check_matches_platform(pair: tuple[Any, Any]) -> None:
    await both(pair, "set", "a", 1)
    await both(pair, "set", "b", 2)
    got, expected = await both(pair, "health_check")
    assert got == expected
    assert got["status"] == "healthy"
    assert got["total_keys"] == 2
    await both(pair, "disconnect")
    got, expected = await both(pair, "health_check")
    assert got == expected
    assert got["status"] == "disconnected"


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("fidelity", FIDELITIES)
async def test_health_check_before_connect_matches_platform(fidelity: str, tmp_path: Path) -> None:
    store = RecordingDataStore(fidelity)  # type: ignore[arg-type]
    real = nexus_database.MemoryAdapter() if fidelity == "memory" else sqlite_adapter(tmp_path)
    assert await store.health_check() == await real.health_check()


NOT_CONNECTED_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("get", ("k",)),
    ("get", ("k", 1)),
    ("set", ("k", 1)),
    ("delete", ("k",)),
    ("exists", ("k",)),
    ("list_keys", ()),
    ("list_keys", ("a*",)),
    ("clear", ()),
]


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize(("op", "args"), NOT_CONNECTED_CALLS)
async def test_operations_before_connect_raise_like_platform(
    fidelity: str, op: str, args: tuple[Any, ...], tmp_path: Path
) -> None:
    store = RecordingDataStore(fidelity)  # type: ignore[arg-type]
    real = nexus_database.MemoryAdapter() if fidelity == "memory" else sqlite_adapter(tmp_path)
    with pytest.raises(RuntimeError, match=r"^Database not connected$"):
        await getattr(real, op)(*args)
    with pytest.raises(RuntimeError, match=r"^Database not connected$"):
        await getattr(store, op)(*args)
    assert store.operations.last.op == op
    assert isinstance(store.operations.last.error, RuntimeError)


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize(("op", "args"), NOT_CONNECTED_CALLS)
async def test_operations_after_disconnect_raise_like_platform(
    pair: tuple[Any, Any], op: str, args: tuple[Any, ...]
) -> None:
    recording, real = pair
    await both(pair, "set", "k", 1)
    await both(pair, "disconnect")
    with pytest.raises(RuntimeError, match=r"^Database not connected$"):
        await getattr(real, op)(*args)
    with pytest.raises(RuntimeError, match=r"^Database not connected$"):
        await getattr(recording, op)(*args)
    assert recording.connected is real.connected is False


@needs_platform
@pytest.mark.asyncio
async def test_disconnect_reconnect_keeps_data_like_platform(pair: tuple[Any, Any]) -> None:
    recording = pair[0]
    await both(pair, "set", "survivor", "yes")
    await both(pair, "disconnect")
    await both(pair, "connect")
    got, expected = await both(pair, "get", "survivor")
    assert got == expected
    if recording.fidelity == "memory":
        assert got is None  # MemoryAdapter.disconnect clears everything
        assert recording.data == {}
    else:
        assert got == "yes"  # a database keeps its rows
        assert recording.data == {"survivor": "yes"}


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("fidelity", FIDELITIES)
async def test_connect_twice_keeps_data(fidelity: str) -> None:
    # (The platform's SQL adapter leaks its first engine on a second connect(),
    # so only MemoryAdapter is compared here.)
    store = RecordingDataStore(fidelity)  # type: ignore[arg-type]
    await store.connect()
    await store.set("k", 1)
    await store.connect()
    assert await store.get("k") == 1
    real = nexus_database.MemoryAdapter()
    await real.connect()
    await real.set("k", 1)
    await real.connect()
    assert await real.get("k") == 1
    await real.disconnect()


@needs_platform
@pytest.mark.asyncio
async def test_disconnect_before_connect_is_harmless(tmp_path: Path) -> None:
    for fidelity in FIDELITIES:
        store = RecordingDataStore(fidelity)  # type: ignore[arg-type]
        await store.disconnect()
        assert store.connected is False
    await nexus_database.MemoryAdapter().disconnect()
    await sqlite_adapter(tmp_path).disconnect()


@needs_platform
@pytest.mark.asyncio
async def test_memory_stores_by_reference_like_memory_adapter() -> None:
    real = nexus_database.MemoryAdapter()
    store = RecordingDataStore(connected=True)
    await real.connect()
    value = {"items": [1]}
    await store.set("k", value)
    await real.set("k", value)
    value["items"].append(2)
    assert await store.get("k") == await real.get("k") == {"items": [1, 2]}
    assert await store.get("k") is value
    await real.disconnect()


@needs_platform
@pytest.mark.asyncio
async def test_sql_stores_a_snapshot_like_the_sql_adapter(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)
    value = {"items": [1]}
    await store.set("k", value)
    await real_sql.set("k", value)
    value["items"].append(2)
    assert await store.get("k") == await real_sql.get("k") == {"items": [1]}


@needs_platform
@pytest.mark.asyncio
async def test_non_json_value_in_dict_raises_type_error_like_sql_adapter(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)
    bad = {"when": object()}
    with pytest.raises(TypeError):
        await real_sql.set("k", bad)
    with pytest.raises(TypeError):
        await store.set("k", bad)
    assert await real_sql.exists("k") is False
    assert await store.exists("k") is False
    assert store.writes == []


@needs_platform
@pytest.mark.asyncio
async def test_non_json_value_in_dict_is_fine_in_memory() -> None:
    real = nexus_database.MemoryAdapter()
    await real.connect()
    store = RecordingDataStore(connected=True)
    marker = object()
    await store.set("k", {"obj": marker})
    await real.set("k", {"obj": marker})
    assert (await store.get("k"))["obj"] is (await real.get("k"))["obj"] is marker
    await real.disconnect()


@needs_platform
@pytest.mark.asyncio
async def test_unstringable_scalar_is_str_under_sql(real_sql: Any) -> None:
    store = RecordingDataStore("sql", connected=True)

    class Thing:
        def __str__(self) -> str:
            return "thing-7"

    await store.set("k", Thing())
    await real_sql.set("k", Thing())
    assert await store.get("k") == await real_sql.get("k") == "thing-7"


@needs_platform
def test_config_attribute_like_platform() -> None:
    memory = RecordingDataStore("memory")
    assert memory.config.type == nexus_database.MemoryAdapter().config.type == "memory"
    sql = RecordingDataStore("sql")
    assert sql.config.type == "sqlite"
    assert sql.config.pool_size == nexus_database.DatabaseConfig().pool_size


# --------------------------------------------------------------------------- serialisation helpers


@pytest.mark.parametrize("value", VALUES, ids=VALUE_IDS)
def test_sql_serialise_is_what_the_adapter_stores(value: Any) -> None:
    stored = sql_serialise(value)
    assert isinstance(stored, str)
    assert sql_deserialise(stored) == sql_round_trip(value)


def test_sql_round_trip_examples() -> None:
    assert sql_round_trip(True) == "True"
    assert sql_round_trip(None) == "None"
    assert sql_round_trip("42") == 42
    assert sql_round_trip((1, 2)) == [1, 2]
    assert sql_round_trip("text") == "text"
    assert sql_round_trip({"a": (1,)}) == {"a": [1]}


# --------------------------------------------------------------------------- construction


def test_invalid_fidelity() -> None:
    with pytest.raises(ValueError, match="'postgres' is not a valid fidelity") as info:
        RecordingDataStore("postgres")  # type: ignore[arg-type]
    assert "memory" in str(info.value)
    assert "sql" in str(info.value)


def test_defaults_and_repr() -> None:
    store = RecordingDataStore()
    assert store.fidelity == "memory"
    assert store.connected is False
    assert not store.operations.called
    assert repr(store) == (
        "<RecordingDataStore fidelity=memory keys=0 operations=0 connected=False>"
    )
    assert RecordingDataStore(connected=True).connected is True


# --------------------------------------------------------------------------- fail_next


@pytest.mark.asyncio
async def test_fail_next_default_fault() -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next("set")
    with pytest.raises(RuntimeError, match="injected fault"):
        await store.set("k", 1)
    assert await store.exists("k") is False
    await store.set("k", 1)  # only the next call
    assert await store.get("k") == 1


@pytest.mark.asyncio
async def test_fail_next_times() -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next("get", ConnectionError("db down"), times=2)
    for _ in range(2):
        with pytest.raises(ConnectionError, match="db down"):
            await store.get("k")
    assert await store.get("k") is None


@pytest.mark.asyncio
async def test_fail_next_key_filter() -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next("set", KeyError("locked"), key="locked")
    await store.set("other", 1)  # another key passes, the fault stays armed
    with pytest.raises(KeyError, match="locked"):
        await store.set("locked", 1)
    await store.set("locked", 2)
    assert store.data == {"other": 1, "locked": 2}


@pytest.mark.asyncio
async def test_fail_next_exception_class_is_instantiated() -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next("delete", PermissionError)
    with pytest.raises(PermissionError) as info:
        await store.delete("k")
    assert type(info.value) is PermissionError
    assert store.operations.last.error is info.value


@pytest.mark.asyncio
async def test_fail_next_exception_instance_is_raised_as_is() -> None:
    store = RecordingDataStore(connected=True)
    error = OSError(28, "No space left on device")
    store.fail_next("set", error)
    with pytest.raises(OSError, match="No space left") as info:
        await store.set("k", 1)
    assert info.value is error


@pytest.mark.asyncio
async def test_fail_next_faults_are_used_in_order() -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next("get", ValueError("first"))
    store.fail_next("get", TypeError("second"))
    with pytest.raises(ValueError, match="first"):
        await store.get("k")
    with pytest.raises(TypeError, match="second"):
        await store.get("k")
    assert await store.get("k") is None


@pytest.mark.asyncio
@pytest.mark.parametrize("op", OPERATIONS)
async def test_fail_next_every_operation(op: str) -> None:
    store = RecordingDataStore(connected=True)
    store.fail_next(op, LookupError(f"{op} broken"))
    args: dict[str, tuple[Any, ...]] = {
        "get": ("k",),
        "set": ("k", 1),
        "delete": ("k",),
        "exists": ("k",),
    }
    with pytest.raises(LookupError, match=f"{op} broken"):
        await getattr(store, op)(*args.get(op, ()))
    last = store.operations.last
    assert last.op == op
    assert isinstance(last.error, LookupError)


@pytest.mark.asyncio
async def test_fail_next_connect_leaves_store_disconnected() -> None:
    store = RecordingDataStore()
    store.fail_next("connect", ConnectionRefusedError)
    with pytest.raises(ConnectionRefusedError):
        await store.connect()
    assert store.connected is False
    await store.connect()
    assert store.connected is True


@pytest.mark.asyncio
async def test_fail_next_takes_precedence_over_not_connected() -> None:
    store = RecordingDataStore()
    store.fail_next("get", ValueError("injected"))
    with pytest.raises(ValueError, match="injected"):
        await store.get("k")
    with pytest.raises(RuntimeError, match="Database not connected"):
        await store.get("k")


def test_fail_next_invalid_operation() -> None:
    store = RecordingDataStore()
    with pytest.raises(ValueError, match="'fetch' is not a store operation") as info:
        store.fail_next("fetch")
    for op in OPERATIONS:
        assert op in str(info.value)


@pytest.mark.parametrize("times", [0, -1])
def test_fail_next_invalid_times(times: int) -> None:
    with pytest.raises(ValueError, match="times must be at least 1"):
        RecordingDataStore().fail_next("get", times=times)


@pytest.mark.asyncio
async def test_failed_set_does_not_notify_observers() -> None:
    store = RecordingDataStore(connected=True)
    seen: list[tuple[str, Any]] = []
    store.observe_sets(lambda k, v: seen.append((k, v)))
    store.fail_next("set")
    with pytest.raises(RuntimeError):
        await store.set("a", 1)
    await store.set("b", 2)
    assert seen == [("b", 2)]


# --------------------------------------------------------------------------- recording


@pytest.mark.asyncio
async def test_operations_are_recorded_in_order() -> None:
    store = RecordingDataStore()
    await store.connect()
    await store.set("a", 1)
    await store.get("a")
    await store.get("missing", "dflt")
    await store.exists("a")
    await store.list_keys("a*")
    await store.delete("a")
    await store.clear()
    await store.health_check()
    await store.disconnect()
    assert [op.op for op in store.operations] == [
        "connect",
        "set",
        "get",
        "get",
        "exists",
        "list_keys",
        "delete",
        "clear",
        "health_check",
        "disconnect",
    ]
    ops = store.operations
    assert ops[1] == DataOperation("set", "a", 1, None)
    assert ops[2] == DataOperation("get", "a", None, 1)
    assert ops[3] == DataOperation("get", "missing", "dflt", "dflt")
    assert ops[4] == DataOperation("exists", "a", None, True)
    assert ops[5] == DataOperation("list_keys", None, "a*", ["a"])
    assert ops[6] == DataOperation("delete", "a", None, None)
    assert ops[8].result["status"] == "healthy"
    assert all(op.error is None for op in ops)
    assert ops.called
    assert ops.call_count == 10
    assert ops.last.op == "disconnect"


def test_empty_operations_last_raises_index_error() -> None:
    with pytest.raises(IndexError, match="nothing was recorded"):
        RecordingDataStore().operations.last  # noqa: B018


@pytest.mark.asyncio
async def test_writes_and_reads() -> None:
    store = RecordingDataStore(connected=True)
    await store.set("a", 1)
    store.fail_next("set")
    with pytest.raises(RuntimeError):
        await store.set("b", 2)
    await store.get("a")
    await store.exists("b")
    await store.list_keys()
    await store.delete("a")
    assert [(w.key, w.value) for w in store.writes] == [("a", 1)]
    assert [r.op for r in store.reads] == ["get", "exists", "list_keys"]
    assert store.writes.called
    assert store.writes.call_count == 1
    assert store.writes.last.key == "a"
    assert store.reads.last.op == "list_keys"
    assert not RecordingDataStore().writes.called
    assert not RecordingDataStore().reads.called


@pytest.mark.asyncio
async def test_operations_clear() -> None:
    store = RecordingDataStore(connected=True)
    await store.set("a", 1)
    store.operations.clear()
    assert not store.operations.called
    assert store.data == {"a": 1}


@pytest.mark.asyncio
async def test_data_and_raw() -> None:
    store = RecordingDataStore("sql", connected=True)
    await store.set("flag", True)
    await store.set("items", (1, 2))
    await store.set("num", "42")
    assert store.data == {"flag": "True", "items": [1, 2], "num": 42}
    assert store.raw == {"flag": "True", "items": "[1, 2]", "num": "42"}
    store.data.clear()  # a copy
    assert len(store.data) == 3
    memory = RecordingDataStore(connected=True)
    await memory.set("flag", True)
    assert memory.data == memory.raw == {"flag": True}


@pytest.mark.asyncio
@pytest.mark.parametrize("fidelity", FIDELITIES)
async def test_seed_is_not_recorded(fidelity: str) -> None:
    store = RecordingDataStore(fidelity)  # type: ignore[arg-type]
    store.seed({"count": 3, "flag": True, "pair": (1, 2)})
    assert store.operations == []
    await store.connect()
    assert await store.get("count") == 3
    expected_flag = True if fidelity == "memory" else "True"
    assert await store.get("flag") == expected_flag
    assert await store.get("pair") == ((1, 2) if fidelity == "memory" else [1, 2])
    assert store.writes == []


@pytest.mark.asyncio
async def test_seed_then_disconnect_under_memory_clears() -> None:
    store = RecordingDataStore()
    store.seed({"a": 1})
    await store.connect()
    await store.disconnect()
    assert store.data == {}


# --------------------------------------------------------------------------- assert_stored and describe


@pytest.mark.asyncio
async def test_assert_stored_returns_value() -> None:
    store = RecordingDataStore(connected=True)
    await store.set("count", 3)
    assert store.assert_stored("count") == 3
    assert store.assert_stored("count", 3) == 3
    await store.set("none", None)
    assert store.assert_stored("none", None) is None


@pytest.mark.asyncio
async def test_assert_stored_missing_key() -> None:
    store = RecordingDataStore(connected=True)
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("count")
    assert str(info.value) == "key 'count' is not stored.\nThe data store is empty."
    await store.set("other", 1)
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("count", 1)
    assert str(info.value) == (
        "key 'count' is not stored.\nStored keys (memory fidelity):\n- other = 1"
    )


@pytest.mark.asyncio
async def test_assert_stored_wrong_value() -> None:
    store = RecordingDataStore(connected=True)
    await store.set("count", 3)
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("count", 4)
    message = str(info.value)
    assert message.startswith("key 'count' holds 3, expected 4.\n")
    assert "- count = 3" in message
    assert "sql fidelity" not in message.split("\n")[0]


@pytest.mark.asyncio
async def test_assert_stored_explains_sql_fidelity_for_true() -> None:
    store = RecordingDataStore("sql", connected=True)
    await store.set("enabled", True)
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("enabled", True)
    message = str(info.value)
    first = message.splitlines()[0]
    assert first.startswith("key 'enabled' holds 'True', expected True")
    assert "under sql fidelity True reads back as 'True'" in first
    assert "str()" in first
    assert "json.loads" in first
    assert "Stored keys (sql fidelity):" in message
    assert store.assert_stored("enabled", "True") == "True"


@pytest.mark.asyncio
async def test_assert_stored_explains_sql_fidelity_for_numeric_string() -> None:
    store = RecordingDataStore("sql", connected=True)
    await store.set("code", "42")
    with pytest.raises(NexusAssertionError, match=r"under sql fidelity '42' reads back as 42"):
        store.assert_stored("code", "42")


@pytest.mark.asyncio
async def test_assert_stored_no_sql_explanation_for_plain_mismatch() -> None:
    store = RecordingDataStore("sql", connected=True)
    await store.set("name", "alice")
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("name", "bob")
    assert "reads back" not in str(info.value)


@pytest.mark.asyncio
async def test_assert_stored_masks_secrets() -> None:
    secret = "sk-prod-abcdef"
    store = RecordingDataStore(connected=True, masker=Masker([secret]))
    await store.set("api_key", secret)
    with pytest.raises(NexusAssertionError) as info:
        store.assert_stored("api_key", "other")
    assert secret not in str(info.value)
    assert MASK in str(info.value)


@pytest.mark.asyncio
async def test_describe() -> None:
    store = RecordingDataStore(connected=True)
    assert store.describe() == "The data store is empty."
    await store.set("a", 1)
    await store.set("b", {"x": [1]})
    assert store.describe() == "Stored keys (memory fidelity):\n- a = 1\n- b = {'x': [1]}"
    sql = RecordingDataStore("sql", connected=True)
    await sql.set("t", (1, 2))
    await sql.set("f", False)
    assert sql.describe() == "Stored keys (sql fidelity):\n- t = [1, 2]\n- f = 'False'"


@pytest.mark.asyncio
async def test_repr_counts() -> None:
    store = RecordingDataStore("sql")
    await store.connect()
    await store.set("a", 1)
    assert repr(store) == "<RecordingDataStore fidelity=sql keys=1 operations=2 connected=True>"


@needs_platform
@pytest.mark.asyncio
async def test_non_string_keys_are_text_in_sql_like_the_sql_adapter(real_sql: Any) -> None:
    # The key column is text: SQLite stores the key 1 as '1', so '1' finds it
    # and list_keys returns strings.  The sql fidelity must not keep the int
    # (list_keys then crashes sorting int and str keys).
    store = RecordingDataStore("sql", connected=True)
    for adapter in (real_sql, store):
        await adapter.set(1, "one")
        await adapter.set("b", "x")
    assert await real_sql.get("1") == "one"
    assert await store.get("1") == await real_sql.get("1")
    assert await store.exists("1") is await real_sql.exists("1") is True
    assert await real_sql.list_keys() == ["1", "b"]
    assert await store.list_keys() == await real_sql.list_keys()
    assert await store.list_keys("1*") == await real_sql.list_keys("1*") == ["1"]


@pytest.mark.asyncio
async def test_operations_read_between_calls_keep_order_and_clearing() -> None:
    # Records are kept flat and built when read: reading in between, clearing
    # the list and faults must all still give one DataOperation per call, in order.
    store = RecordingDataStore()
    await store.connect()
    await store.set("a", 1)
    assert store.operations.last == DataOperation("set", "a", 1, None)
    assert await store.get("a") == 1
    store.fail_next("get", KeyError("boom"), key="b")
    with pytest.raises(KeyError):
        await store.get("b")
    assert await store.get("b", 7) == 7  # the fault was used up
    assert [(op.op, op.key, op.result) for op in store.operations] == [
        ("connect", None, None),
        ("set", "a", None),
        ("get", "a", 1),
        ("get", "b", None),
        ("get", "b", 7),
    ]
    assert isinstance(store.operations[3].error, KeyError)
    store.operations.clear()
    await store.exists("a")
    assert store.operations == [DataOperation("exists", "a", None, True)]


@pytest.mark.asyncio
async def test_setting_connected_is_checked_by_the_next_operation() -> None:
    store = RecordingDataStore(connected=True)
    await store.set("a", 1)
    store.connected = False
    with pytest.raises(RuntimeError, match="Database not connected"):
        await store.get("a")
    store.connected = True
    assert await store.get("a") == 1


@pytest.mark.asyncio
async def test_a_kept_reference_to_operations_sees_later_ones() -> None:
    store = RecordingDataStore(connected=True)
    held = store.operations
    await store.set("a", 1)
    await store.get("a")
    assert [op.op for op in held] == ["set", "get"]
    assert held is store.operations
    assert held.call_count == 2
