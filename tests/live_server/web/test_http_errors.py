"""Every error is problem+json with a reason; nothing changes on bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(status: int, body: Any, expected: int) -> None:
    assert status == expected, body
    assert isinstance(body, dict) and PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == expected
    assert "Traceback" not in str(body)


async def test_health_and_ready(api: Api) -> None:
    assert await api.get("/healthz") == (200, {"status": "ok"})
    assert await api.get("/readyz") == (200, {"status": "ready"})


async def test_unknown_route_and_method(api: Api) -> None:
    status, body = await api.get("/no/such/thing")
    assert_problem(status, body, 404)
    status, body = await api.call("DELETE", "/healthz")
    assert_problem(status, body, 405)
    assert "GET" in body["detail"]


async def test_missing_wrong_and_forged_tokens(api: Api, ops_token: str, make_room: Any) -> None:
    status, body = await api.post("/api/v1/rooms", None, json={"title": "x"})
    assert_problem(status, body, 401)
    status, body = await api.post("/api/v1/rooms", ops_token[:-4] + "AAAA", json={"title": "x"})
    assert_problem(status, body, 401)
    room = await make_room(live=False)
    status, body = await api.post("/api/v1/rooms", room["host_token"], json={"title": "x"})
    assert_problem(status, body, 403)
    assert "ops" in body["detail"]


async def test_malformed_json_and_wrong_types_change_nothing(
    api: Api, ops_token: str, clean_redis: Any
) -> None:
    before = clean_redis.dbsize()
    status, body = await api.call(
        "POST", "/api/v1/rooms", ops_token, data=b"{not json",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert_problem(status, body, 400)
    assert "JSON" in body["detail"]
    status, body = await api.post("/api/v1/rooms", ops_token, json={"title": 42})
    assert_problem(status, body, 400)
    assert body["errors"][0]["location"] == ["body", "title"]
    status, body = await api.post("/api/v1/rooms", ops_token, json={"title": "x", "bogus": 1})
    assert_problem(status, body, 400)
    status, body = await api.call(
        "POST", "/api/v1/rooms", ops_token, data=b"title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert_problem(status, body, 415)
    assert clean_redis.dbsize() == before


async def test_oversized_body_is_413(api: Api, ops_token: str, settings: Any) -> None:
    import io

    huge = b'{"title": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    status, body = await api.call(
        "POST", "/api/v1/rooms", ops_token, data=io.BytesIO(huge),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert_problem(status, body, 413)


async def test_openapi_documents_every_route(api: Api, server: Any) -> None:
    status, doc = await api.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD" or "socket.io" in path or path.startswith("/static"):
            continue
        if route.method == "OPTIONS":
            continue
        assert (route.method, path) in documented, f"{route.method} {path} missing from openapi"


@pytest.mark.parametrize("path", ["/metrics"])
async def test_metrics_exposes_requests(api: Api, path: str) -> None:
    await api.get("/healthz")
    status, body = await api.get(path)
    assert status == 200
    text = body.decode()
    assert 'live_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    await api.get("/healthz")
    await api.get("/nope")
    text = (await api.get(path))[1].decode()
    assert 'live_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'live_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    # A histogram as Prometheus reads it: cumulative buckets up to +Inf == _count, a _sum.
    buckets = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("live_http_request_duration_seconds_bucket{")
        and 'route="/healthz"' in line
    ]  # fmt: skip
    assert len(buckets) == 13 and buckets == sorted(buckets) and buckets[-1] == 2.0
    assert 'live_http_request_duration_seconds_count{method="GET",route="/healthz"} 2.0' in text
    assert 'live_http_request_duration_seconds_sum{method="GET",route="/healthz"}' in text
