"""Every Socket.IO event the server sends, declared once: its namespaces, what it means and
its payload's JSON Schema. ``/asyncapi.json`` (AsyncAPI 3.0) is generated from here, and
the emit helpers of :class:`~live_server.realtime.server.Realtime` check each event they
send against these declarations (an undeclared one is logged and counted), so the document
and what goes over the wire cannot drift apart silently. A test records real events and
validates them against the document (tests/live_server/ops/test_asyncapi.py).

Payload schemas list the fields clients rely on (DESIGN.md); more fields are welcome, so
objects stay open (``additionalProperties``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIVE, HOST, STORE = "/live", "/host", "/store"
NAMESPACES: dict[str, str] = {
    LIVE: "Viewers of a live room (viewer, host or ops token scoped to the room).",
    HOST: "The host console of a room (host or ops token).",
    STORE: "A store's staff dashboard (staff or ops token scoped to the store; a guide token "
    "also receives its tasks). Stream entries carry their stream `id`; emit `ack` with the "
    "last id handled; reconnect with `auth={token, last_id}` to replay what followed.",
}

Schema = dict[str, Any]


def _obj(required: tuple[str, ...], **properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["ts", *required],
        "properties": {"ts": TS, **properties},
        "additionalProperties": True,
    }


TS: Schema = {"type": "integer", "description": "server time of the event, ms since the epoch"}
OFFSET: Schema = {
    "type": "string",
    "description": "position in the room's history; reconnect with auth.offset to resume",
}
STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
STREAM_ID: Schema = {"type": "string", "description": "the entry's id in the store's stream"}

CARD = _obj(
    ("id", "text", "askers", "groups", "votes", "status"),
    id=STR, room_id=STR, text=STR, askers=INT, groups=INT, votes=INT,
    status={"type": "string", "enum": ["new", "held", "pinned", "answered", "dismissed", "merged"]},
)  # fmt: skip
STOCK = _obj(
    ("campaign_id", "remaining"),
    campaign_id=STR, remaining=INT, quantity=INT, status=STR,
)  # fmt: skip
STREAM_ENTRY = _obj(("id", "type"), id=STREAM_ID, type=STR, store_id=STR)
TASK = _obj(
    ("id", "task_id"),
    id=STREAM_ID, task_id=STR, booking_id=STR, store_id=STR, guide_id=STR,
    status={"type": "string",
            "enum": ["assigned", "accepted", "contacted", "arrived", "no_show", "cancelled"]},
    priority=INT, due_at=STR,
)  # fmt: skip


BATCH = _obj(
    ("events",),
    events={"type": "array",
            "items": _obj(("event", "data"), event=STR, data={"type": "object"})},
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EventDecl:
    """One server-to-client event: name (``noun.verb``), namespaces, meaning, payload."""

    name: str
    namespaces: tuple[str, ...]
    summary: str
    payload: Schema


EVENTS: tuple[EventDecl, ...] = (
    EventDecl("room.state", (LIVE,), "On joining: the room's title, status, featured items, "
              "open coupon drops and pinned question.",
              _obj(("room_id", "status"), room_id=STR, status=STR, title=STR, offset=OFFSET)),
    EventDecl("room.viewers", (LIVE, HOST), "Viewers in the room (at most once a second).",
              _obj(("room_id", "viewers"), room_id=STR, viewers=INT)),
    EventDecl("room.started", (LIVE, HOST), "The room went live.",
              _obj(("room_id", "status"), room_id=STR, status=STR, offset=OFFSET)),
    EventDecl("room.ended", (LIVE, HOST), "The room ended.",
              _obj(("room_id", "status"), room_id=STR, status=STR, offset=OFFSET)),
    EventDecl("room.announcement", (LIVE,), "A message from the host to every viewer.",
              _obj(("room_id", "text"), room_id=STR, text=STR, offset=OFFSET)),
    EventDecl("room.engagement", (HOST,), "Platform likes, gifts, joins and viewer counts "
              "of the room's platform rooms (at most once a second).",
              _obj(("room_id",), room_id=STR, likes=INT, gifts=INT, joins=INT,
                   viewer_count=INT)),
    EventDecl("room.product", (HOST,), "The platform's product card changed: the product on "
              "screen, recorded on each booking and claim from now on.",
              _obj(("room_id", "product_id"), room_id=STR, product_id=STR)),
    EventDecl("coupon.dropped", (LIVE, HOST), "The host dropped a coupon campaign: claim now.",
              _obj(("id", "room_id", "title", "remaining"), id=STR, room_id=STR, title=STR,
                   kind=STR, value={"type": "number"}, quantity=INT, remaining=INT,
                   per_user=INT, expires_at=STR, status=STR)),
    EventDecl("coupon.stock", (LIVE, HOST),
              "Coupons left in a campaign (at most 4 a second across workers; "
              "never more than a value already sent).", STOCK),
    EventDecl("booking.count", (LIVE, HOST), "Bookings made in the room (at most once a second, "
              "across workers; never lower than a value sent).",
              _obj(("room_id", "bookings"), room_id=STR, bookings=INT)),
    EventDecl("booking.created", (HOST, STORE), "A viewer booked a visit: on /host with "
              "`stream_id` and the seats left, on /store as a stream entry with the "
              "customer's context.",
              _obj(("store_id", "booking_id"), type=STR, id=STREAM_ID, stream_id=STREAM_ID,
                   store_id=STR, booking_id=STR, room_id=STR, remaining=INT)),
    EventDecl("booking.cancelled", (HOST, STORE), "A booking was cancelled (the seat is free).",
              _obj(("store_id", "booking_id"), type=STR, id=STREAM_ID, stream_id=STREAM_ID,
                   store_id=STR, booking_id=STR)),
    EventDecl("booking.arrived", (STORE,), "Staff checked the visitor in.", STREAM_ENTRY),
    EventDecl("coupon.redeemed", (STORE,), "A code was redeemed at the store's till.",
              STREAM_ENTRY),
    EventDecl("question.new", (HOST,), "A new question card.", CARD),
    EventDecl("question.updated", (HOST,), "A card changed (asked again, merged, voted, "
              "pinned, answered, dismissed, split).", CARD),
    EventDecl("question.pinned", (LIVE,), "The host is answering this question now.", CARD),
    EventDecl("question.unpinned", (LIVE,), "The pinned question was taken down.",
              _obj(("id",), id=STR, room_id=STR)),
    EventDecl("question.answered", (LIVE,), "The host answered this question.", CARD),
    EventDecl("store.synced", (STORE,), "End of the replay after (re)connecting: what "
              "follows is live.",
              _obj(("replayed",), last_id={"type": ["string", "null"]}, replayed=INT)),
    EventDecl("store.error", (STORE,), "The feed failed; reconnect to resume from the last ack.",
              _obj(("detail",), detail=STR)),
    EventDecl("task.assigned", (STORE,), "A booking's task was assigned to this guide.", TASK),
    EventDecl("task.updated", (STORE,), "A task changed status or guide.", TASK),
    EventDecl("task.reminder", (STORE,), "A task is due soon and not yet handled.", TASK),
    EventDecl("order.recorded", (STORE,), "A sale recorded at the till, credited to the "
              "booking's guide and room (store and live-team shares).", STREAM_ENTRY),
    EventDecl("host.batch", (HOST,), "Sent in place of the single events above to a host "
              "console that connected with `auth={token, batch: true}`: the room's events "
              "of the last 250 ms, in order, each with its own `ts`; a card or counter that "
              "changed several times appears once, with its last state.", BATCH),
    EventDecl("store.batch", (STORE,), "Sent in place of single entries to a dashboard that "
              "connected with `auth={token, batch: true}`: the entries (replayed or live) "
              "that were ready together, in stream order; ack the last id.", BATCH),
)  # fmt: skip

CLIENT_EVENTS: dict[str, tuple[str, Schema]] = {
    STORE: (
        "ack",
        {
            "type": "object",
            "required": ["id"],
            "properties": {"id": STREAM_ID},
            "description": "the last stream id handled",
        },
    ),
}

BY_NAMESPACE: dict[str, frozenset[str]] = {
    ns: frozenset(e.name for e in EVENTS if ns in e.namespaces) for ns in NAMESPACES
}


def declared(namespace: str, event: str) -> bool:
    """Is ``event`` declared for ``namespace``?"""
    return event in BY_NAMESPACE.get(namespace, frozenset())


def _key(namespace: str) -> str:
    return namespace.strip("/")


def _message_id(event: str) -> str:
    return event.replace(".", "_")


def asyncapi_document(*, title: str, version: str, server_url: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every namespace and event (served at /asyncapi.json)."""
    host = server_url.split("://", 1)[-1].rstrip("/")
    secure = server_url.startswith("https")
    messages: dict[str, Any] = {}
    for e in EVENTS:
        messages[_message_id(e.name)] = {
            "name": e.name, "title": e.name, "summary": e.summary,
            "contentType": "application/json", "payload": e.payload,
        }  # fmt: skip
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for ns, description in NAMESPACES.items():
        key = _key(ns)
        channel_messages = {
            _message_id(e.name): {"$ref": f"#/components/messages/{_message_id(e.name)}"}
            for e in EVENTS
            if ns in e.namespaces
        }
        client = CLIENT_EVENTS.get(ns)
        if client is not None:
            name, payload = client
            messages[f"{key}_{name}"] = {
                "name": name, "title": name, "contentType": "application/json",
                "payload": payload,
            }  # fmt: skip
            channel_messages[f"{key}_{name}"] = {"$ref": f"#/components/messages/{key}_{name}"}
        channels[key] = {
            "address": ns,
            "title": f"Socket.IO namespace {ns}",
            "description": description + " Connect with `auth={\"token\": ...}`; every event "
            "carries `ts`.",
            "messages": channel_messages,
        }  # fmt: skip
        operations[f"{key}_receive"] = {
            "action": "send",
            "title": f"Server events on {ns}",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [
                {"$ref": f"#/channels/{key}/messages/{_message_id(e.name)}"}
                for e in EVENTS
                if ns in e.namespaces
            ],
        }
        if client is not None:
            operations[f"{key}_{client[0]}"] = {
                "action": "receive",
                "title": f"Client `{client[0]}` on {ns}",
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{key}_{client[0]}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Socket.IO (engine.io v4) at path /socket.io/. Each message is a "
            "Socket.IO event whose name is the message name and whose single argument is "
            "the payload.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "main": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "pathname": "/socket.io/",
                "description": "Socket.IO over websocket (long-polling with one worker only)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
