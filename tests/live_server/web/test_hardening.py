"""Hardening a deployment relies on (docs/SECURITY.md): request bodies are read strictly,
production hides which node answered and closes /metrics unless a token guards it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.settings import Settings
from tests.conftest import Api
from tests.live_server.bookings.booking_helpers import make_store


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "100"), ("quantity", True), ("per_user", 1.5), ("value", "10")],
)
async def test_numbers_must_be_numbers(api: Api, make_room: Any, field: str, value: object) -> None:
    room = await make_room()
    body: dict[str, Any] = {
        "title": "10 off", "value": 10, "quantity": 100, "per_user": 1,
        "expires_at": int(time.time()) + 3600, field: value,
    }  # fmt: skip
    status, problem = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns", room["host_token"], json=body
    )
    assert status == 400, problem
    assert problem["errors"][0]["location"][:2] == ["body", field]
    status, listing = await api.get(
        f"/api/v1/rooms/{room['room_id']}/campaigns", room["host_token"]
    )
    assert status == 200 and listing["campaigns"] == []  # nothing was created


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[tuple[str, Api]]:
    prod = settings.with_changes(production=True)
    srv = TestServer(create_app(prod), host="127.0.0.1")
    await srv.start_server()
    async with aiohttp.ClientSession() as session:
        yield str(srv.make_url("")).rstrip("/"), Api(str(srv.make_url("")).rstrip("/"), session)
    await srv.close()


async def test_production_does_not_say_which_node_answered(
    api: Api, production: tuple[str, Api]
) -> None:
    base, _ = production
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as response:
            assert response.status == 200 and "X-Served-By" not in response.headers
            assert response.headers["X-Request-Id"]
    async with aiohttp.ClientSession() as session:  # a local run still shows it
        async with session.get(f"{api.base}/healthz") as response:
            assert "X-Served-By" in response.headers


async def test_metrics_closed_in_production_without_a_token(
    production: tuple[str, Api],
) -> None:
    base, _ = production
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 403
            assert "LIVE_METRICS_TOKEN" in (await response.json())["detail"]


async def test_metrics_behind_a_bearer_token(settings: Settings) -> None:
    guarded = settings.with_changes(production=True, metrics_token="scrape-me-0123456789")
    srv = TestServer(create_app(guarded), host="127.0.0.1")
    await srv.start_server()
    url = str(srv.make_url("/metrics"))
    try:
        async with aiohttp.ClientSession() as session:
            for headers, expected in (
                ({}, 401),
                ({"Authorization": "Bearer wrong"}, 401),
                ({"Authorization": "Bearer scrape-me-0123456789"}, 200),
            ):
                async with session.get(url, headers=headers) as response:
                    assert response.status == expected, headers
                    if expected == 200:
                        assert "live_http_requests_total" in await response.text()
    finally:
        await srv.close()


async def test_production_refuses_webhooks_into_its_own_network(
    api: Api, ops_token: str, production: tuple[str, Api]
) -> None:
    """A store manager or a brand's ops could otherwise make the server POST to the cloud
    metadata service or an internal port (SSRF); a local run keeps loopback receivers."""
    _, prod = production
    await make_store(prod, ops_token, store_id="ssrf1")  # the production node knows it at once
    for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:6379/",
                "http://10.0.0.5/hook", "http://[::1]/hook", "http://localhost:8080/x",
                "http://[::ffff:127.0.0.1]/x"):  # fmt: skip
        status, problem = await prod.put(
            "/api/v1/stores/ssrf1/webhook", ops_token, json={"url": url}
        )
        assert status == 400 and "url" in problem["detail"], (url, problem)
        status, problem = await prod.put(
            "/api/v1/groups/g-ssrf", ops_token,
            json={"store_id": "ssrf1", "name": "g", "callback_url": url},
        )  # fmt: skip
        assert status == 400 and "callback_url" in problem["detail"], (url, problem)
    status, _ = await prod.put(
        "/api/v1/stores/ssrf1/webhook", ops_token, json={"url": "https://gw.example.com/hook"}
    )
    assert status == 200
    await make_store(api, ops_token, store_id="ssrf2")
    status, _ = await api.put(  # not production: a test receiver on loopback is fine
        "/api/v1/stores/ssrf2/webhook", ops_token, json={"url": "http://127.0.0.1:9/hook"}
    )
    assert status == 200
