"""Route declarations: one source for validation, authorization and ``/openapi.json``.

Each domain declares its endpoints on an :class:`Api` with pydantic models for the body,
the query string and the response, and the roles allowed::

    api = Api()

    @api.post("/api/v1/rooms", summary="Create a room", roles=[Role.OPS],
              body=CreateRoom, response=RoomCreated, status=201)
    async def create_room(call: Call[CreateRoom, None]) -> RoomCreated: ...

The wrapper authenticates the bearer token, checks the role and the scope (the token's
room/store must equal the path parameter named by ``scope``), parses and validates the
body and query (400 problem+json on failure, nothing changed), calls the handler and
renders its result with orjson. The same declarations generate the OpenAPI document,
and the authorization matrix test enumerates them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from live_server.core.appkeys import SETTINGS, SIGNER
from live_server.core.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from live_server.core.tenancy import TENANCY, require_brand
from live_server.core.tokens import Claims, Role, bearer_from_header
from live_server.web.limits import Rule
from live_server.web.limits import enforce as enforce_limits

B = TypeVar("B", bound=BaseModel | None)
Q = TypeVar("Q", bound=BaseModel | None)

Handler = Callable[["Call[Any, Any]"], Awaitable[Any]]
Guard = Callable[[web.Request], Awaitable[None]]


@dataclass(slots=True)
class Call(Generic[B, Q]):
    """What a handler receives: the request, the parsed input and the caller's claims."""

    request: web.Request
    body: B
    query: Q
    claims: Claims | None

    @property
    def app(self) -> web.Application:
        return self.request.app

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def who(self) -> Claims:
        """The caller's claims (the route requires a token)."""
        assert self.claims is not None, "route declared without roles"
        return self.claims

    def require_brand(self, brand: str) -> None:
        """403 unless the caller may touch things of ``brand`` (a brand named in the body:
        the path's brands are checked before the handler runs)."""
        require_brand(self.claims, brand)


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: tuple[Role, ...] | None  # None: public
    scope: str | None  # path parameter the token's scope must equal (ops bypasses)
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    raw_body: dict[str, str] = field(default_factory=dict)  # other accepted media types
    headers: tuple[str, ...] = ()  # documented request headers (e.g. Idempotency-Key)
    description: str = ""
    limits: tuple[Rule, ...] = ()
    """Rate limits of this route (429 with Retry-After over one); the flash-crowd routes."""
    guard: Guard | None = None
    """Checked after the token and the limits, before the body is parsed: a webhook's
    signature, so an unsigned caller learns nothing about the body's fields."""


def dump_json(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value, by_alias=True)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dump_json(value), status=status, content_type="application/json", headers=headers
    )


def _validation_problem(exc: ValidationError, where: str) -> ValidationFailed:
    errors = [
        {
            "location": [where, *(str(p) for p in err["loc"])],
            "message": err["msg"].removeprefix("Value error, "),  # a validator's own words
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"location": [where], "message": "invalid"}
    field_name = ".".join(first["location"][1:]) or where
    return ValidationFailed(f"{field_name}: {first['message']}", errors=errors)


def authenticate(
    request: web.Request, roles: Sequence[Role] | None, scope: str | None
) -> Claims | None:
    """Check the bearer token against the route's roles and scope."""
    if roles is None:
        return None
    token = bearer_from_header(request.headers.get("Authorization"))
    claims = request.app[SIGNER].verify(token, remember=True)
    if claims.role is Role.OPS:
        return claims
    if claims.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        article = "an" if allowed[:1] in "aeiou" else "a"
        theirs = "an" if claims.role.value[:1] in "aeiou" else "a"
        raise Forbidden(
            f"this needs {article} {allowed} token; yours is {theirs} {claims.role.value} token"
        )
    if scope is not None and claims.scope != request.match_info.get(scope):
        raise Forbidden(f"your token is for another {scope}")
    return claims


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if not request.body_exists or request.content_length == 0:
        _require_body(request)
        return _validated(model, b"{}")  # no body at all: whatever its declared type
    if request.content_type not in ("application/json", "") and not request.content_type.endswith(
        "+json"
    ):
        raise UnsupportedMediaType(
            f"send JSON (Content-Type: application/json), not {request.content_type}"
        )
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body must be at most {limit} bytes")
    raw = (await request.read()).strip()
    if not raw:
        _require_body(request)
    return _validated(model, raw or b"{}")


def _require_body(request: web.Request) -> None:
    """A PUT replaces what it names: without a body it would replace it with nothing (a
    brand's whole lexicon, a store's roster). Send ``{}`` to mean that."""
    if request.method == "PUT":
        raise BadRequest("send the new value as a JSON body (a PUT without one changes nothing)")


def _validated(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        # strict: numbers are numbers, booleans are booleans (no "1" or true for a count)
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("the body is not valid JSON") from exc
        raise _validation_problem(exc, "body") from exc


def read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_problem(exc, "query") from exc


class Api:
    """A collection of endpoint declarations; :meth:`install` adds them to an app."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str = "default",
        roles: Iterable[Role] | None = None,
        scope: str | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: Iterable[int] = (),
        raw_body: dict[str, str] | None = None,
        headers: Iterable[str] = (),
        description: str = "",
        limits: Iterable[Rule] = (),
        guard: Guard | None = None,
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=tag,
                    roles=tuple(roles) if roles is not None else None,
                    scope=scope,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    errors=tuple(errors),
                    raw_body=raw_body or {},
                    headers=tuple(headers),
                    description=description or (handler.__doc__ or "").strip(),
                    limits=tuple(limits),
                    guard=guard,
                )
            )
            return handler

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def include(self, other: Api) -> None:
        self.endpoints.extend(other.endpoints)

    def install(self, app: web.Application) -> None:
        # aiohttp tries the routes that share a path prefix (every /api/v1/rooms/{room}/...)
        # one regex at a time, in registration order: the flash-crowd routes (those with a
        # rate-limit rule: claim, booking, questions, votes, joins) go first. No two routes
        # here match the same URL, so the order changes nothing but the time to find them.
        hot = [ep for ep in self.endpoints if ep.limits]
        rest = [ep for ep in self.endpoints if not ep.limits]
        hot_resources: dict[str, web.AbstractResource] = {}
        for ep in hot + rest:
            route = app.router.add_route(ep.method, ep.path, _wrap(ep))
            if ep in hot and route.resource is not None:
                hot_resources[ep.path] = route.resource
        _resolve_hot_first(app.router, hot_resources)


def _path_regex(path: str) -> str:
    """aiohttp's reading of a plain route template: ``{name}`` is one segment, not empty."""
    literal = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    return re.sub(r"\{[^}]+\}", "[^{}/]+", literal)


def _resolve_hot_first(router: web.UrlDispatcher, hot: dict[str, web.AbstractResource]) -> None:
    """Resolve the flash-crowd URLs with one regex before aiohttp's general walk.

    aiohttp walks a URL's prefixes and tries each route under ``/api/v1/rooms`` in turn
    (about 10 µs for a claim); one alternation of the hot templates finds the resource at
    once, then the resource itself matches (so path parameters and methods work exactly as
    before). Anything else, a wrong method included, takes aiohttp's own path. Safe while
    no other route matches a hot URL (tests/live_server/test_route_order.py)."""
    if not hot:
        return
    resources = list(hot.values())
    pattern = re.compile("|".join(f"(?P<h{i}>{_path_regex(p)})" for i, p in enumerate(hot)))
    general = router.resolve

    async def resolve(request: web.Request) -> Any:
        found = pattern.fullmatch(request.rel_url.path_safe)
        if found is not None and found.lastgroup is not None:
            match_info, _ = await resources[int(found.lastgroup[1:])].resolve(request)
            if match_info is not None:
                return match_info
        return await general(request)

    router.resolve = resolve  # type: ignore[method-assign]


MAX_BRAND = 100
"""The longest brand name (rooms, stores and groups take no longer one): a longer one in a
path is a typo, not a brand to keep settings for."""


def _wrap(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @functools.wraps(ep.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        request[ENDPOINT] = ep
        claims = authenticate(request, ep.roles, ep.scope)
        brand = request.match_info.get("brand")
        if brand is not None and len(brand) > MAX_BRAND:  # as a room's or a store's brand
            raise ValidationFailed(f"brand: at most {MAX_BRAND} characters")
        if claims is not None and claims.brand is not None:
            await request.app[TENANCY].require_path(claims, request.match_info)
        await enforce_limits(request, ep.limits, claims)
        if ep.guard is not None:
            await ep.guard(request)
        body = None
        if ep.body is not None and not (ep.raw_body and request.content_type in ep.raw_body):
            body = await read_body(request, ep.body)
        query = read_query(request, ep.query) if ep.query is not None else None
        result = await ep.handler(Call(request, body, query, claims))
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if ep.status in (200, 204) else ep.status)
        return json_response(result, ep.status)

    return handler


# --- OpenAPI -------------------------------------------------------------------------

_STATUS_TEXT = {
    400: "Invalid input", 401: "Missing or invalid token", 403: "Not allowed for this token",
    404: "Not found", 409: "Conflict", 410: "Gone", 413: "Body too large",
    415: "Unsupported media type", 429: "Rate limited", 503: "Redis unavailable",
}  # fmt: skip


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; some problems add fields of their own "
    "(e.g. `booking_id` on 409 already booked, `capacity` on 409 slot full, `problems` "
    "with row numbers on a refused store file, `allow` on 405).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "identifies the problem"},
        "title": {"type": "string", "description": "short, the same for every instance"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what went wrong here, for a person"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {
            "type": "array",
            "description": "400 invalid input: one entry per invalid field",
            "items": {
                "type": "object",
                "required": ["location", "message"],
                "properties": {
                    "location": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "where: body, query or path, then the field's path",
                    },
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 1},
}


def openapi_document(api: Api, *, title: str, version: str, server_url: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for ep in api.endpoints:
        for m in (ep.body, ep.response):
            if m is not None:
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "serialization" if _is_response(api, m) else "validation") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for ep in api.endpoints:
        op: dict[str, Any] = {
            "operationId": ep.handler.__name__,
            "summary": ep.summary,
            "tags": [ep.tag],
            "responses": {},
        }
        if ep.description:
            op["description"] = ep.description
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(ep.path)
        ]
        if ep.query is not None:
            qschema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                prop = dict(prop)
                prop.pop("title", None)
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        for header in ep.headers:
            params.append(
                {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
            )
        if params:
            op["parameters"] = params
        if ep.body is not None or ep.raw_body:
            content: dict[str, Any] = {}
            if ep.body is not None:
                content["application/json"] = {
                    "schema": {"$ref": f"#/components/schemas/{ep.body.__name__}"}
                }
            for media, desc in ep.raw_body.items():
                content[media] = {"schema": {"type": "string", "description": desc}}
            op["requestBody"] = {"required": True, "content": content}
        ok: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            ok["content"] = {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{ep.response.__name__}"}
                }
            }
        op["responses"][str(ep.status)] = ok
        codes = set(ep.errors)
        if ep.body is not None or ep.query is not None:
            codes |= {400}
        if ep.body is not None:
            codes |= {413, 415}
        if ep.limits:
            codes |= {429}
        if ep.roles is not None:
            codes |= {401, 403}
            op["security"] = [{"bearer": []}]
        if ep.path.startswith("/api/"):
            codes |= {503}  # every /api/ route needs Redis (problem middleware: fail fast)
        for code in sorted(codes):
            op["responses"][str(code)] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
            if code in (429, 503):
                op["responses"][str(code)]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _is_response(api: Api, model: type[BaseModel]) -> bool:
    return any(ep.response is model for ep in api.endpoints) and not any(
        ep.body is model for ep in api.endpoints
    )


def _path_params(path: str) -> list[str]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            out.append(part[1:-1].split(":")[0])
    return out


API: web.AppKey[Api] = web.AppKey("api")
"""Every endpoint of the server (``/openapi.json``, the authorization matrix test)."""
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
ENDPOINT: web.RequestKey[Endpoint] = web.RequestKey("endpoint")
