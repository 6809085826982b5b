"""nexus_clock, nexus_http and the swallowed-errors check as users meet them (pytester)."""

from __future__ import annotations

import pytest

from ._helpers import minimal_manifest, needs_platform, write_plugin

WORLD_PLUGIN = """
import asyncio
import logging
import time

import httpx
from fastapi import APIRouter

logger = logging.getLogger(__name__)


class WorldPlugin:
    def __init__(self):
        self.name = "world"
        self.category = "test"
        self.version = "0.1.0"
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.syncs = []
        self._task = None

    async def initialize(self):
        await asyncio.sleep(0.01)  # a short real sleep: the plugin still starts
        self._task = asyncio.create_task(self._every_five_minutes())
        return True

    async def _every_five_minutes(self):
        while True:
            await asyncio.sleep(300)
            self.syncs.append(time.time())

    async def shutdown(self):
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/items")
        async def items():
            async with httpx.AsyncClient() as client:
                response = await client.get("https://api.example.com/items")
            return response.json()

        @router.post("/sync")
        async def sync():
            try:
                raise ConnectionError("upstream down")
            except Exception:
                logger.exception("sync failed, retrying")
            return {"ok": False}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return {"healthy": True}
"""

TESTS = """
import asyncio
import time

import pytest

pytestmark = pytest.mark.nexus_plugin("plugins/world")


{mark}
async def test_three_syncs(nexus_plugin, nexus_clock):
    start = time.time()
    await nexus_clock.advance(900)
    print("syncs at", *[round(t - start) for t in nexus_plugin.syncs])


{mark}
async def test_times_agree(nexus_host, nexus_clock):
    loop = asyncio.get_running_loop()
    t0, w0 = loop.time(), time.time()
    seen = []

    def note(what):
        seen.append(f"{{what}}: loop {{loop.time() - t0:.0f}} s, wall {{time.time() - w0:.0f}} s")

    async def sleeper():
        await asyncio.sleep(5)
        note("sleep")

    async def waiter():
        try:
            await asyncio.wait_for(asyncio.Event().wait(), 7)
        except TimeoutError:
            note("wait_for time-out")

    loop.call_later(10, note, "timer")
    tasks = [asyncio.create_task(sleeper()), asyncio.create_task(waiter())]
    await nexus_clock.advance(20)
    await asyncio.gather(*tasks)
    print("seen", "; ".join(seen))


{mark}
async def test_mocked(nexus_client, nexus_http):
    route = nexus_http.get("https://api.example.com/items").respond(200, json=[1, 2])
    assert (await nexus_client.get("/items")).json() == [1, 2]
    assert route.call_count == 1


{mark}
async def test_unmocked(nexus_client):
    await nexus_client.get("/items")


{mark}
async def test_unused(nexus_client, nexus_http):
    nexus_http.get("https://api.example.com/other").respond(200)


{mark}
async def test_swallowed(nexus_client):
    await nexus_client.post("/sync")


{mark}
@pytest.mark.nexus_allow_errors
async def test_allowed(nexus_client):
    await nexus_client.post("/sync")


{mark}
@pytest.mark.nexus_allow_errors(match="retrying")
async def test_allowed_by_message(nexus_client):
    await nexus_client.post("/sync")
"""


def _project(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    write_plugin(pytester.path / "plugins", "world", WORLD_PLUGIN, minimal_manifest("world"))
    mark = "@pytest.mark.asyncio" if mode == "strict" else ""
    pytester.makepyfile(test_world=TESTS.format(mark=mark))


def _pin(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=7, failed=1, errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "*syncs at 300 600 900",
            "*seen sleep: loop 5 s, wall 5 s; wait_for time-out: loop 7 s, wall 7 s; "
            "timer: loop 10 s, wall 10 s",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_unmocked _*",
            "E *UnmockedRequestError: pytest-nexus: no mock for the plugin's request "
            "GET https://api.example.com/items (host 'api.example.com').",
            "E *Mocked routes:",
            "E *- (none)",
            "E *Mock it in the test: nexus_http.get('https://api.example.com/items')"
            ".respond(200, json=...)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_unmocked _*",
            "The plugin made HTTP requests that no mock answered:",
            "- GET https://api.example.com/items (host 'api.example.com')",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_unused _*",
            "Mocked HTTP routes that the plugin never requested:",
            "- GET https://api.example.com/other",
            "Remove them, or declare a route that is not always requested optional: "
            "nexus_http.get(url, optional=True).",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_swallowed _*",
            "Exceptions were logged or swallowed instead of raised while the plugin ran:",
            "- *.plugin: sync failed, retrying: ConnectionError: upstream down at "
            "*plugins/world/plugin.py:51 in sync",
            "Code that catches an exception and only logs it hides a failure from its tests: "
            "let it raise, or if the error is expected, allow it with "
            '@pytest.mark.nexus_allow_errors(match="...") (SwallowedErrors(match=...)).',
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_clock_http_and_errors_as_users_meet_them(pytester: pytest.Pytester, mode: str) -> None:
    _project(pytester, mode)
    _pin(pytester.runpytest("-p", "no:randomly", "-s"))


@needs_platform
def test_clock_http_and_errors_on_the_platform_backend(pytester: pytest.Pytester) -> None:
    _project(pytester, "auto")
    _pin(pytester.runpytest("-p", "no:randomly", "-s", "--nexus-backend=platform"))


def test_the_real_clock_and_bad_options_as_users_meet_them(pytester: pytest.Pytester) -> None:
    _project(pytester, "auto")
    pytester.makepyfile(
        test_real="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/world")


        @pytest.mark.nexus_host(clock="real")
        async def test_real(nexus_host):
            assert nexus_host.clock is None


        @pytest.mark.nexus_host(clock="real")
        async def test_real_and_the_fixture(nexus_host, nexus_clock):
            pass


        @pytest.mark.nexus_host(clock="fast")
        async def test_bad_clock(nexus_host):
            pass


        @pytest.mark.nexus_allow_errors("retrying")
        async def test_bad_allow(nexus_host):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "test_real.py")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines_random(
        [
            'nexus_clock is the virtual clock, and this test is marked nexus_host(clock="real"); '
            "remove one of the two",
            "@pytest.mark.nexus_host: clock='fast' is not valid. Valid values: virtual, real.",
            "@pytest.mark.nexus_allow_errors takes no argument or match= (a pattern or a list of "
            'patterns), like @pytest.mark.nexus_allow_errors(match="retrying")',
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
