"""/docs renders /openapi.json with Swagger UI from assets the front-end build bundles
(nothing from a CDN), and the Problem schema describes what errors really carry."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from tests.conftest import Api


async def test_docs_page_uses_bundled_assets_only(api: Api) -> None:
    status, page = await api.get("/docs")
    assert status == 200
    html = page.decode()
    assert '<script src="/static/docs.js">' in html
    assert '<link rel="stylesheet" href="/static/docs.css">' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "an asset from another origin"
    csp = ""
    async with api.session.get(api.base + "/docs") as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    status, script = await api.get("/static/docs.js")
    assert status == 200 and b"SwaggerUI" in script and b"/openapi.json" in script
    status, css = await api.get("/static/docs.css")
    assert status == 200 and b".swagger-ui" in css


async def test_problem_schema_matches_real_errors(api: Api, ops_token: str) -> None:
    status, doc = await api.get("/openapi.json")
    assert status == 200
    problem = doc["components"]["schemas"]["Problem"]
    assert "errors" in problem["properties"]
    # a real invalid-input answer, with its per-field errors, fits the schema
    status, body = await api.put("/api/v1/stores", ops_token, json=[{"id": "x"}])
    assert status == 400
    status, body = await api.post("/api/v1/rooms", ops_token, json={"title": 5})
    assert status == 400 and body["errors"], body
    jsonschema.validate(body, problem)
    # Retry-After is documented wherever 429 or 503 is
    limited = 0
    for path, methods in doc["paths"].items():
        for op in methods.values():
            for code in ("429", "503"):
                response: dict[str, Any] | None = op["responses"].get(code)
                if response is not None:
                    assert "Retry-After" in response["headers"], (path, code)
                    limited += code == "429"
            if path.startswith("/api/"):
                assert "503" in op["responses"], path
    assert limited >= 5
