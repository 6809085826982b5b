"""NexusHTTP: strict outbound HTTP fakes over respx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from nexus_testkit import NetworkBlockedError, NexusAssertionError
from nexus_testkit.host._network import network_guard
from nexus_testkit.world import NexusHTTP, UnmockedRequestError

from .test_robustness import LoopbackServer


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    yield srv
    srv.close()


@pytest.mark.asyncio
async def test_a_mocked_route_answers_and_records_the_request() -> None:
    with NexusHTTP() as http:
        route = http.get("https://api.example.com/items").respond(200, json=[{"id": 1}])
        async with httpx.AsyncClient() as client:
            response = await client.get("https://api.example.com/items", params={"page": 2})
    assert response.json() == [{"id": 1}]
    assert route.call_count == 1
    assert http.calls.last.request.url.params["page"] == "2"
    assert http.routes == [route]


def test_sync_clients_are_intercepted_too() -> None:
    with NexusHTTP() as http:
        http.post("https://api.example.com/sync").respond(201, json={"ok": True})
        with httpx.Client() as client:
            assert client.post("https://api.example.com/sync", json={}).status_code == 201


@pytest.mark.asyncio
async def test_an_unmocked_request_fails_where_it_is_made_naming_host_and_routes() -> None:
    http = NexusHTTP()
    http.start()
    try:
        http.get("https://api.example.com/items").respond(200, json=[])
        async with httpx.AsyncClient() as client:
            await client.get("https://api.example.com/items")
            with pytest.raises(UnmockedRequestError) as info:
                await client.post("https://billing.example.com/charge?amount=3")
    finally:
        http.stop()
    assert str(info.value).splitlines() == [
        "pytest-nexus: no mock for the plugin's request POST https://billing.example.com/charge "
        "(host 'billing.example.com').",
        "Mocked routes:",
        "- GET https://api.example.com/items, called 1x",
        "Mock it in the test: nexus_http.post('https://billing.example.com/charge')"
        ".respond(200, json=...)",
    ]
    assert info.value.request.url.host == "billing.example.com"


@pytest.mark.asyncio
async def test_a_swallowed_unmocked_request_still_fails_the_end_of_test_check() -> None:
    with pytest.raises(NexusAssertionError) as info, NexusHTTP():  # noqa: PT012
        async with httpx.AsyncClient() as client:
            try:  # noqa: SIM105 - what plugins do
                await client.get("https://api.example.com/items")
            except Exception:
                pass
    assert str(info.value).splitlines() == [
        "The plugin made HTTP requests that no mock answered:",
        "- GET https://api.example.com/items (host 'api.example.com')",
        "Mocked routes:",
        "- (none)",
        "Mock each in the test, e.g. nexus_http.get('https://api.example.com/items')"
        ".respond(200, json=...); a real local server can be let through with "
        "allow_hosts=['localhost:9000'].",
    ]


def test_a_route_never_requested_fails_unless_optional() -> None:
    http = NexusHTTP()
    http.get("https://api.example.com/items").respond(200)
    http.get("https://api.example.com/maybe", optional=True).respond(200)
    http.request("PROPFIND", "https://dav.example.com/").respond(207)
    with pytest.raises(NexusAssertionError) as info:
        http.verify()
    assert str(info.value).splitlines() == [
        "Mocked HTTP routes that the plugin never requested:",
        "- GET https://api.example.com/items",
        "- PROPFIND https://dav.example.com/",
        "Remove them, or declare a route that is not always requested optional: "
        "nexus_http.get(url, optional=True).",
    ]


def test_a_failing_block_is_not_hidden_by_the_check() -> None:
    with pytest.raises(KeyError), NexusHTTP() as http:  # noqa: PT012
        http.get("https://api.example.com/items").respond(200)
        raise KeyError("the test's own failure")


@pytest.mark.asyncio
async def test_allowed_local_hosts_reach_the_real_server_through_the_guard(
    server: LoopbackServer,
) -> None:
    network_guard.acquire()
    try:
        with NexusHTTP(allow_hosts=[f"localhost:{server.port}"]) as http:
            http.get("https://api.example.com/items").respond(200, json=[])
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{server.port}/")
                assert response.text == "hello"
                await client.get("https://api.example.com/items")
        # The allowance ends with the object.
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{server.port}/")
        assert network_guard.blocked[-1] == f"127.0.0.1:{server.port}"
    finally:
        network_guard.release()
    assert server.accepted(1) == 1
    assert isinstance(NetworkBlockedError("x"), ConnectionRefusedError)


@pytest.mark.parametrize("entry", ["localhost", "localhost:http", ":80"])
def test_allow_hosts_entries_are_validated(entry: str) -> None:
    with pytest.raises(ValueError, match="allow_hosts takes 'host:port' entries"):
        NexusHTTP(allow_hosts=[entry])


@pytest.mark.asyncio
async def test_a_tests_own_respx_router_still_serves_beside_it() -> None:
    with NexusHTTP() as http:
        http.get("https://api.example.com/items").respond(200, json=[])
        with respx.mock() as own:
            own.get("https://other.example.com/x").respond(text="respx")
            async with httpx.AsyncClient() as client:
                assert (await client.get("https://other.example.com/x")).text == "respx"
                await client.get("https://api.example.com/items")
    assert http.unmatched == []


# ------------------------------------------------------------------ outbound attempts


def test_every_outbound_attempt_is_recorded_with_the_host_as_written_and_where(
    server: LoopbackServer,
) -> None:
    """One list for every layer: httpx (mocked, refused, allowed) and the network guard."""
    import socket

    from nexus_testkit.host._outbound import outbound

    here = __file__
    attempts: list = []
    with (
        outbound.recording(attempts, prefer=[here]),
        NexusHTTP(allow_hosts=[f"localhost:{server.port}"]) as http,
    ):
        http.get("https://api.example.com/items").respond(200)
        with httpx.Client() as client:
            client.get("https://api.example.com/items")
            with pytest.raises(UnmockedRequestError):
                client.get("https://Billing.Example.com:8443/charge")
            client.get(f"http://localhost:{server.port}/")
        network_guard.acquire()
        try:
            with socket.socket() as sock, pytest.raises(NetworkBlockedError):
                sock.connect(("203.0.113.9", 5432))
        finally:
            network_guard.release()
        http.verify = lambda: None  # the refused request is this test's point
    assert [(a.host, a.port, a.via, a.outcome) for a in attempts] == [
        ("api.example.com", 443, "httpx", "mocked"),
        ("billing.example.com", 8443, "httpx", "refused"),
        ("localhost", server.port, "httpx", "allowed"),
        ("203.0.113.9", 5432, "socket", "refused"),
    ]
    assert all(a.by_plugin and a.where.startswith(f"{here}:") for a in attempts)
    assert (
        attempts[1].describe().startswith("'billing.example.com':8443 (httpx, refused) at " + here)
    )
    # Nobody listening: nothing is kept.
    with NexusHTTP() as http:
        http.get("https://api.example.com/items").respond(200)
        httpx.get("https://api.example.com/items")
    assert len(attempts) == 4
    assert not outbound.listening


@pytest.mark.asyncio
async def test_a_host_exposes_the_attempts_of_its_plugin(tmp_path) -> None:
    from nexus_testkit import PluginHost

    from ._helpers import MINIMAL_PLUGIN, write_plugin

    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True\n",
        "        import httpx\n"
        "        try:\n"
        "            async with httpx.AsyncClient() as client:\n"
        "                await client.get('https://api.example.com/ping')\n"
        "        except Exception:\n"
        "            pass\n"
        "        self.initialized = True\n"
        "        return True\n",
    )
    directory = write_plugin(tmp_path, "mini", source=source)
    host = PluginHost(directory)
    async with host:
        pass
    (attempt,) = host.outbound
    assert (attempt.host, attempt.port, attempt.via, attempt.outcome) == (
        "api.example.com",
        443,
        "httpx",
        "refused",
    )
    assert attempt.by_plugin
    assert attempt.where.startswith(f"{directory.resolve() / 'plugin.py'}:")
    assert attempt.where.endswith(" in initialize")
