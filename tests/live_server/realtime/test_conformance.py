"""The Socket.IO and Engine.IO protocols on our stack, as Node's socket.io speaks them.

Raw HTTP and websocket clients (aiohttp) against the reference app that ``live-server
conformance`` serves (``live_server.conformance``: the protocol's published configuration
on the production Socket.IO server, fast path included). Each test is one behaviour the
protocol's compliance suite checks; the suite itself is not copied here. aiohttp's client
hands over one websocket message per ``receive``, so nothing here depends on how the
server's frames happen to be split across TCP reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer

from live_server.conformance import REFERENCE_OPTIONS, create_conformance_app
from live_server.core.embedded_redis import free_port
from live_server.realtime.fanout import LiveSocket
from live_server.realtime.server import SIO
from live_server.settings import Settings

PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[TestServer]:
    srv = TestServer(create_conformance_app(Settings(redis_url=redis_url)), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
def url(server: TestServer) -> str:
    return str(server.make_url("/socket.io/"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ws_url(url: str, query: str = "EIO=4&transport=websocket") -> str:
    return url.replace("http://", "ws://") + "?" + query


async def open_polling(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}?EIO=4&transport=polling") as response:
        assert response.status == 200
        return str(json.loads((await response.text())[1:])["sid"])


async def poll(http: aiohttp.ClientSession, url: str, sid: str) -> tuple[int, str]:
    async with http.get(f"{url}?EIO=4&transport=polling&sid={sid}") as response:
        return response.status, await response.text()


async def push(http: aiohttp.ClientSession, url: str, sid: str, body: str) -> tuple[int, str]:
    async with http.post(f"{url}?EIO=4&transport=polling&sid={sid}", data=body) as response:
        return response.status, await response.text()


async def next_message(ws: aiohttp.ClientWebSocketResponse, *, pings: bool = False) -> Any:
    """The next text or binary message (engine.io PINGs skipped unless ``pings``)."""
    while True:
        msg = await ws.receive(timeout=3)
        assert msg.type in (WSMsgType.TEXT, WSMsgType.BINARY), msg
        if msg.data == "2" and not pings:
            continue
        return msg.data


async def closed_by_server(ws: aiohttp.ClientWebSocketResponse, within: float = 3.0) -> bool:
    """True when the server ends the websocket within ``within`` seconds (messages before
    that are read and dropped; PINGs are not answered)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            return False
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return True
    return False


async def socketio_session(
    http: aiohttp.ClientSession, url: str, namespace: str = ""
) -> aiohttp.ClientWebSocketResponse:
    """A websocket with its namespace connected and the ``auth`` event read."""
    ws = await http.ws_connect(ws_url(url))
    assert (await next_message(ws)).startswith("0")
    prefix = f"{namespace}," if namespace else ""
    await ws.send_str(f"40{prefix}")
    assert (await next_message(ws)).startswith(f"40{prefix}")
    assert (await next_message(ws)) == f"42{prefix}" + '["auth",{}]'
    return ws


# --- the reference app's configuration -------------------------------------------------


def test_reference_options_are_the_published_ones() -> None:
    assert REFERENCE_OPTIONS["ping_interval"] * 1000 == PING_INTERVAL_MS
    assert REFERENCE_OPTIONS["ping_timeout"] * 1000 == PING_TIMEOUT_MS
    assert REFERENCE_OPTIONS["max_http_buffer_size"] == 1_000_000


# --- Engine.IO: handshake --------------------------------------------------------------


async def test_polling_handshake_has_every_field(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(f"{url}?EIO=4&transport=polling") as response:
        assert response.status == 200
        content = await response.text()
    assert content.startswith("0")
    handshake = json.loads(content[1:])
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(handshake["sid"], str)
    assert handshake["upgrades"] == ["websocket"]
    # upstream engine.io truncated the interval to whole seconds first (0.3 s -> 0)
    assert handshake["pingInterval"] == PING_INTERVAL_MS
    assert handshake["pingTimeout"] == PING_TIMEOUT_MS
    assert handshake["maxPayload"] == 1_000_000


async def test_websocket_handshake_has_every_field_and_takes_the_fast_path(
    http: aiohttp.ClientSession, url: str, server: TestServer
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        handshake = json.loads((await next_message(ws))[1:])
        assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        assert handshake["upgrades"] == []
        assert handshake["pingInterval"] == PING_INTERVAL_MS
        assert handshake["pingTimeout"] == PING_TIMEOUT_MS
        assert handshake["maxPayload"] == 1_000_000
        sock = server.app[SIO].eio.sockets[handshake["sid"]]
        assert isinstance(sock, LiveSocket) and sock.transport is not None  # direct writes


@pytest.mark.parametrize(
    "query", ["transport=polling", "EIO=abc&transport=polling", "EIO=3&transport=polling"]
)
async def test_polling_refuses_a_bad_eio_version(
    http: aiohttp.ClientSession, url: str, query: str
) -> None:
    async with http.get(f"{url}?{query}") as response:
        assert response.status == 400


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
async def test_polling_refuses_a_bad_transport(
    http: aiohttp.ClientSession, url: str, query: str
) -> None:
    """Upstream took a missing transport for long-polling and opened a session."""
    async with http.get(f"{url}?{query}") as response:
        assert response.status == 400


@pytest.mark.parametrize(
    "query", ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc"]
)
async def test_websocket_refuses_a_bad_eio_version_or_transport(
    http: aiohttp.ClientSession, url: str, query: str
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(url, query))
    assert refused.value.status == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_a_handshake_with_another_method_is_refused_with_400(
    http: aiohttp.ClientSession, url: str, method: str
) -> None:
    """Node answers 400; upstream (and aiohttp's router) said 405 to PUT and the like."""
    async with http.request(method, f"{url}?EIO=4&transport=polling") as response:
        assert response.status == 400


# --- Engine.IO: heartbeat ---------------------------------------------------------------


async def test_polling_pings_and_pongs(http: aiohttp.ClientSession, url: str) -> None:
    sid = await open_polling(http, url)
    for _ in range(3):
        assert await poll(http, url, sid) == (200, "2")
        assert (await push(http, url, sid, "3"))[0] == 200


async def test_polling_session_ends_at_the_ping_timeout(
    http: aiohttp.ClientSession, url: str
) -> None:
    """Closed at ping + timeout exactly (a timer), not at the next send or service pass:
    upstream's first poll after 500 ms still got the PING (HTTP 200)."""
    sid = await open_polling(http, url)
    await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.02)
    assert (await poll(http, url, sid))[0] == 400


async def test_a_request_for_a_closed_session_is_refused_with_400(
    http: aiohttp.ClientSession, url: str
) -> None:
    """A pong that comes after the deadline: upstream answered the POST with HTTP 500."""
    sid = await open_polling(http, url)
    await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.05)
    assert (await push(http, url, sid, "3"))[0] == 400
    assert (await poll(http, url, sid))[0] == 400


async def test_websocket_pings_and_pongs(http: aiohttp.ClientSession, url: str) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)  # handshake
        await ws.send_str("40")
        await next_message(ws)  # CONNECT
        await next_message(ws)  # auth
        started = time.monotonic()
        for _ in range(3):
            assert await next_message(ws, pings=True) == "2"
            await ws.send_str("3")
        assert time.monotonic() - started >= 3 * PING_INTERVAL_MS / 1000 * 0.9


async def test_websocket_session_ends_at_the_ping_timeout(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)  # handshake
        await ws.send_str("40")  # a namespace, so the connect timeout is not what ends it
        started = time.monotonic()
        assert await closed_by_server(ws, within=2.0)
        elapsed = time.monotonic() - started
    assert (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 * 0.9 <= elapsed < 0.9


async def test_websocket_pong_keeps_the_session_while_messages_do_not(
    http: aiohttp.ClientSession, url: str
) -> None:
    """Only a PONG answers a PING (as Node): a client that sends events but never pongs is
    closed at the ping timeout."""
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        await ws.send_str("40")
        deadline = time.monotonic() + 1.5
        closed = False
        while time.monotonic() < deadline and not closed:
            await ws.send_str('42["message","still here"]')
            try:
                msg = await ws.receive(timeout=0.05)
            except TimeoutError:
                continue
            closed = msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
        assert closed


# --- Engine.IO: close -------------------------------------------------------------------


async def test_polling_close_answers_the_waiting_poll_with_noop(
    http: aiohttp.ClientSession, url: str
) -> None:
    sid = await open_polling(http, url)
    waiting = asyncio.create_task(poll(http, url, sid))
    await asyncio.sleep(0.05)  # the poll is parked on the server
    assert (await push(http, url, sid, "1"))[0] == 200
    assert await waiting == (200, "6")
    assert (await poll(http, url, sid))[0] == 400


async def test_polling_close_without_a_waiting_poll_ends_with_the_next_one(
    http: aiohttp.ClientSession, url: str
) -> None:
    """As Node: the CLOSE is answered on the next poll (NOOP), whichever request the
    server happened to see first; then the sid is gone."""
    sid = await open_polling(http, url)
    assert (await push(http, url, sid, "1"))[0] == 200
    assert await poll(http, url, sid) == (200, "6")
    assert (await poll(http, url, sid))[0] == 400


async def test_websocket_close_packet_ends_the_session(
    http: aiohttp.ClientSession, url: str, server: TestServer
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        sid = json.loads((await next_message(ws))[1:])["sid"]
        await ws.send_str("1")
        assert await closed_by_server(ws, within=1.0)
    await asyncio.sleep(0.05)
    assert sid not in server.app[SIO].eio.sockets


# --- Engine.IO: upgrade -----------------------------------------------------------------


async def upgraded(
    http: aiohttp.ClientSession, url: str
) -> tuple[str, aiohttp.ClientWebSocketResponse]:
    sid = await open_polling(http, url)
    waiting = asyncio.create_task(poll(http, url, sid))
    await asyncio.sleep(0.05)
    ws = await http.ws_connect(ws_url(url, f"EIO=4&transport=websocket&sid={sid}"))
    await ws.send_str("2probe")
    assert await next_message(ws) == "3probe"
    assert await waiting == (200, "6")  # the pending poll is ended with a NOOP
    await ws.send_str("5")
    return sid, ws


async def connected_after_upgrade(ws: aiohttp.ClientWebSocketResponse) -> None:
    """CONNECT and ``auth`` both arrive. Their order is held only for a websocket opened
    straight away (the fast path); on a session upgraded from long-polling the connect
    handler's events may still precede CONNECT (engine.io's queue, as upstream)."""
    got = sorted([await next_message(ws), await next_message(ws)])
    assert got[0].startswith("40{") and got[1] == '42["auth",{}]'


async def test_upgrade_from_polling_to_websocket(http: aiohttp.ClientSession, url: str) -> None:
    _, ws = await upgraded(http, url)
    async with ws:
        await ws.send_str("40")
        await connected_after_upgrade(ws)
        await ws.send_str('42["message","over websocket"]')
        assert await next_message(ws) == '42["message-back","over websocket"]'


async def test_polling_with_the_same_sid_after_upgrade_is_refused(
    http: aiohttp.ClientSession, url: str
) -> None:
    sid, ws = await upgraded(http, url)
    async with ws:
        await asyncio.sleep(0.05)
        assert (await poll(http, url, sid))[0] == 400


async def test_a_second_websocket_with_the_same_sid_is_accepted_then_closed(
    http: aiohttp.ClientSession, url: str
) -> None:
    """Node completes the websocket handshake and closes it (a client sees ``close``, not an
    error); upstream answered 400, or, while upgrading, began a second upgrade that hung."""
    sid, ws = await upgraded(http, url)
    async with ws:
        second = await http.ws_connect(ws_url(url, f"EIO=4&transport=websocket&sid={sid}"))
        assert await closed_by_server(second, within=1.0)
        await ws.send_str("40")  # the first one still works
        await connected_after_upgrade(ws)


# --- Socket.IO: namespaces --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "prefix", "auth"),
    [
        ("40", "", "{}"),
        ('40{"token":"123"}', "", '{"token":"123"}'),
        ("40/custom,", "/custom,", "{}"),
        ('40/custom,{"token":"abc"}', "/custom,", '{"token":"abc"}'),
    ],
)
async def test_namespace_connect_answers_before_the_handler_emits(
    http: aiohttp.ClientSession, url: str, sent: str, prefix: str, auth: str
) -> None:
    """CONNECT ({sid} only) first, then what the connect handler emitted: python-socketio
    sent the handler's ``auth`` event before the CONNECT packet."""
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        await ws.send_str(sent)
        connect = await next_message(ws)
        assert connect.startswith(f"40{prefix}")
        assert set(json.loads(connect[2 + len(prefix) :])) == {"sid"}
        assert await next_message(ws) == f'42{prefix}["auth",{auth}]'


async def test_an_unknown_namespace_is_refused_with_nodes_error(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        await ws.send_str("40/random")
        assert await next_message(ws) == '44/random,{"message":"Invalid namespace"}'


async def test_namespaces_connecting_at_once_each_get_their_answer(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        await ws.send_str("40")
        await ws.send_str("40/random")
        await ws.send_str("40/custom,")
        got = [await next_message(ws) for _ in range(5)]
        assert '44/random,{"message":"Invalid namespace"}' in got
        assert got.index('42["auth",{}]') > next(i for i, m in enumerate(got) if m[:3] == "40{")
        assert got.index('42/custom,["auth",{}]') > next(
            i for i, m in enumerate(got) if m.startswith("40/custom,")
        )


async def test_a_connection_that_joins_no_namespace_is_closed(
    http: aiohttp.ClientSession, url: str
) -> None:
    """connect_timeout (1 s here, 45 s in production, as Node): a client that answers every
    PING but never connects a namespace is closed."""
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 3:
            msg = await ws.receive(timeout=3)
            if msg.type is WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")
            closed = msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
        assert closed
        assert 0.9 <= time.monotonic() - started < 2.0


async def test_leaving_the_main_namespace_keeps_the_connection(
    http: aiohttp.ClientSession, url: str
) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_str("41")
        assert await next_message(ws, pings=True) == "2"  # no close: the next thing is a PING


async def test_leaving_a_namespace_keeps_the_others(
    http: aiohttp.ClientSession, url: str, server: TestServer
) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_str("40/custom")
        assert (await next_message(ws)).startswith("40/custom,")
        assert await next_message(ws) == '42/custom,["auth",{}]'
        await ws.send_str("41/custom")
        await ws.send_str('42["message","message to main namespace"]')
        assert await next_message(ws) == '42["message-back","message to main namespace"]'
        manager = server.app[SIO].manager
        assert list(manager.get_participants("/custom", None)) == []


# --- Socket.IO: events, binary attachments, acks ----------------------------------------


async def test_an_event_is_echoed_with_its_arguments(http: aiohttp.ClientSession, url: str) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_str('42["message",1,"2",{"3":[true]}]')
        assert await next_message(ws) == '42["message-back",1,"2",{"3":[true]}]'


async def test_binary_attachments_are_received_and_sent(
    http: aiohttp.ClientSession, url: str
) -> None:
    """A tuple of bytes was not seen as binary on the single-socket fast emit (bus.py)."""
    ws = await socketio_session(http, url)
    async with ws:
        placeholders = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'
        await ws.send_str(f'452-["message",{placeholders}]')
        await ws.send_bytes(bytes([1, 2, 3]))
        await ws.send_bytes(bytes([4, 5, 6]))
        assert await next_message(ws) == f'452-["message-back",{placeholders}]'
        assert await next_message(ws) == bytes([1, 2, 3])
        assert await next_message(ws) == bytes([4, 5, 6])


async def test_an_ack_carries_the_arguments(http: aiohttp.ClientSession, url: str) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_str('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await next_message(ws) == '43456[1,"2",{"3":[false]}]'


async def test_a_binary_ack_carries_the_attachments(http: aiohttp.ClientSession, url: str) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        placeholders = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'
        await ws.send_str(f'452-789["message-with-ack",{placeholders}]')
        await ws.send_bytes(bytes([1, 2, 3]))
        await ws.send_bytes(bytes([4, 5, 6]))
        assert await next_message(ws) == f"462-789[{placeholders}]"
        assert await next_message(ws) == bytes([1, 2, 3])
        assert await next_message(ws) == bytes([4, 5, 6])


# --- malformed packets close the connection ----------------------------------------------


@pytest.mark.parametrize(
    "packet",
    [
        "4abc",  # unknown Socket.IO packet type
        "42{}",  # an event that is not an array
        '42abc["message-with-ack",1]',  # an ack id that is not a number
        '42["connect"]',  # a reserved event name
        "42[]",  # an event without a name
        "abc",  # not an Engine.IO packet
    ],
)
async def test_a_malformed_packet_closes_the_connection(
    http: aiohttp.ClientSession, url: str, packet: str
) -> None:
    """python-socketio logged a handler error and kept the connection; Node closes it."""
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_str(packet)
        assert await closed_by_server(ws, within=0.4)  # before any ping timeout could


async def test_binary_data_nobody_waits_for_closes_the_connection(
    http: aiohttp.ClientSession, url: str
) -> None:
    ws = await socketio_session(http, url)
    async with ws:
        await ws.send_bytes(b"\x01\x02")
        assert await closed_by_server(ws, within=0.4)


async def test_a_malformed_packet_before_any_namespace_closes_the_connection(
    http: aiohttp.ClientSession, url: str
) -> None:
    async with http.ws_connect(ws_url(url)) as ws:
        await next_message(ws)
        await ws.send_str("4abc")
        assert await closed_by_server(ws, within=0.4)


# --- the command -------------------------------------------------------------------------


async def test_live_server_conformance_serves_the_reference_app(redis_url: str) -> None:
    port = free_port()
    cli = Path(sys.executable).with_name("live-server")
    proc = await asyncio.create_subprocess_exec(
        str(cli), "conformance", "--port", str(port), "--redis-url", redis_url,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/socket.io/"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    sid = await open_polling(http, url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("live-server conformance did not answer")
            assert sid
            ws = await socketio_session(http, url, "/custom")
            async with ws:
                await ws.send_str("40/random")
                assert await next_message(ws) == '44/random,{"message":"Invalid namespace"}'
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, err.decode()
