"""The cast of a broadcast: viewers, the host, community-group bots, store dashboards, and
the live platform's comment storm (Douyin's data push).

Request names follow the API's paths with ``[placeholders]`` so the stats group them.
Answers the business expects under load (slot full, sold out) are successes; they are
counted apart as ``OUTCOME`` entries so a run shows how often they happened.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import gevent
import gevent.event
import socketio
from locust import between, constant, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.contrib.socketio import SocketIOUser

from loadtest.run import Run, current

ROOM = "/api/v1/rooms/[room]"
QUESTIONS = [
    "今天的月饼礼盒还能预约吗?",
    "周末烘焙课还有名额吗?",
    "定制蛋糕需要提前几天预约?",
    "优惠券可以在所有门店用吗?",
    "欧包是当天现烤的吗?",
    "Is the sourdough vegan?",
    "Can I pick up a custom cake on Sunday?",
    "Does the coupon work with the mooncake box?",
    "How long does the baking class take?",
    "Are there gluten-free options?",
]


def _slug(resp: Any) -> str:
    """The problem type's last segment (e.g. slot-full), or the status."""
    try:
        body = json.loads(resp.content or b"{}")
        return str(body.get("type", "")).rsplit("/", 1)[-1] or str(resp.status_code)
    except (ValueError, AttributeError):
        return str(resp.status_code)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class BroadcastSocketUser(SocketIOUser):
    """A Socket.IO user with an HTTP session beside it and measured connects/deliveries."""

    abstract = True
    # A dropped socket is a failure to see, not to hide. (locust annotates
    # SocketIOUser.options as an instance attribute; it is a class attribute, read in
    # SocketIOUser.__init__, and ruff's RUF012 wants a mutable one marked ClassVar.)
    options: ClassVar[dict[str, Any]] = {"reconnection": False}  # type: ignore[misc]  # locust
    namespace = "/live"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # locust: untyped
        self.load_run: Run = current()
        self.http = FastHttpSession(
            self.host, self.environment.events.request, self, connection_timeout=10.0,
            network_timeout=20.0,
        )  # fmt: skip
        self.greenlets: list[gevent.Greenlet] = []
        self.sio.on("*", self._on_event, namespace=self.namespace)

    def connect_socket(self, auth: dict[str, Any]) -> bool:
        """Connect to this user's namespace; the time it takes is ``SIO connect <ns>``."""
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            # socketio.Client.connect itself: the locust wrapper names every connect alike.
            socketio.Client.connect(
                self.sio, self.host, auth=auth, namespaces=[self.namespace],
                transports=["websocket"], wait_timeout=15,
            )  # fmt: skip
        except Exception as exc:
            error = exc
        self.load_run.fire("SIO", f"connect {self.namespace}", _ms_since(start), error)
        return error is None

    def delivered(self, event: str, data: Any) -> None:
        """Delivery latency: receive time minus the server's ``ts`` (same clock on one host)."""
        if isinstance(data, dict) and isinstance(data.get("ts"), int | float):
            self.load_run.fire(
                "DELIVERY", f"{self.namespace} {event}", time.time() * 1000 - data["ts"]
            )

    def _on_event(self, event: str, data: Any = None) -> None:
        self.delivered(event, data)

    def auth_headers(self, token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **extra}

    def on_stop(self) -> None:
        gevent.killall(self.greenlets, block=False)
        if self.sio.connected:
            self.sio.disconnect()


class Board:
    """What the users of one locust process pass on to each other: the coupon drops seen
    (claimers without a socket wait for them), booked visits (store staff check them in)
    and claimed codes (staff redeem them)."""

    def __init__(self) -> None:
        self.drops: dict[str, float] = {}  # campaign -> when first seen (monotonic)
        self.sold_out: set[str] = set()
        self.signal = gevent.event.Event()
        self.visits: dict[str, str] = {}  # booking -> store, oldest first
        self.codes: collections.deque[tuple[str, str]] = collections.deque(maxlen=100_000)

    def dropped(self, campaign_id: str) -> None:
        if campaign_id in self.drops:
            return
        self.drops[campaign_id] = time.monotonic()
        signal, self.signal = self.signal, gevent.event.Event()
        signal.set()  # wake every claimer waiting for a drop

    def sold_out_seen(self, run: Run, campaign_id: str) -> None:
        """The first "sold out" answer of a drop: how long the stock lasted."""
        if campaign_id in self.sold_out or campaign_id not in self.drops:
            return
        self.sold_out.add(campaign_id)
        run.fire("COUPON", "drop-to-sold-out", (time.monotonic() - self.drops[campaign_id]) * 1000)

    def next_visit(self) -> tuple[str, str] | None:
        if not self.visits:
            return None
        booking_id = next(iter(self.visits))
        return booking_id, self.visits.pop(booking_id)

    def withdraw(self, booking_id: str) -> bool:
        """A viewer cancels: False if staff already took the visit (checked in)."""
        return self.visits.pop(booking_id, None) is not None


BOARD = Board()


class ViewerFlows:
    """What a viewer does over HTTP, shared by the socket viewer and the HTTP-only crowd
    of the broadcast profile (bookers, claimers): join, claim, book, cancel."""

    load_run: Run
    http: FastHttpSession
    room: str
    token: str
    viewer_id: str
    bookings: list[tuple[str, str]]  # (booking id, store id)

    def auth_headers(self, token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **extra}

    def join(self) -> bool:
        """A new viewer identity in the room (``POST /viewers``): token and viewer id."""
        with self.http.post(
            f"/api/v1/rooms/{self.room}/viewers", json={"external_id": f"lt-{uuid.uuid4().hex}"},
            name=f"{ROOM}/viewers", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code not in (200, 201):
                resp.failure(f"viewer not created: {resp.status_code} {_slug(resp)}")
                return False
            body = resp.json()
            self.token, self.viewer_id = body["token"], body["viewer_id"]
            self.bookings = []
            return True

    # --- coupons ------------------------------------------------------------------------
    def claim(self, campaign_id: str) -> None:
        """Tap "claim": one Idempotency-Key for the tap, retried on transport errors and
        5xx; claim-to-code is the time from the tap to the code in hand."""
        key = uuid.uuid4().hex
        start = time.perf_counter()
        url = f"/api/v1/rooms/{self.room}/campaigns/{campaign_id}/claim"
        error: BaseException | None = None
        for _attempt in range(3):
            with self.http.post(
                url, headers=self.auth_headers(self.token, **{"Idempotency-Key": key}),
                name=f"{ROOM}/campaigns/[campaign]/claim", catch_response=True,
            ) as resp:  # fmt: skip
                if resp.status_code == 201:
                    code = resp.json()["code"]
                    self.load_run.acked.code(campaign_id, code, self.viewer_id)
                    self.load_run.fire("COUPON", "claim-to-code", _ms_since(start))
                    BOARD.codes.append((campaign_id, code))
                    return
                if resp.status_code in (409, 410):  # sold out, limit reached: the shop's answer
                    resp.success()
                    slug = _slug(resp)
                    self.load_run.fire("OUTCOME", f"coupon {slug}", 0)
                    if slug == "sold-out":
                        BOARD.sold_out_seen(self.load_run, campaign_id)
                    return
                error = RuntimeError(f"claim answered {resp.status_code} {_slug(resp)}")
                resp.failure(error)
                if resp.status_code and resp.status_code < 500:
                    break
        self.load_run.fire("COUPON", "claim-to-code", _ms_since(start), error)

    # --- bookings -----------------------------------------------------------------------
    def book_once(self) -> None:
        """Tap -> nearest stores -> the day's slots -> book (with an Idempotency-Key)."""
        if not self.token or len(self.bookings) >= self.load_run.profile.max_bookings_per_viewer:
            return
        rng = self.load_run.rng
        headers = self.auth_headers(self.token)
        self.http.post(
            f"/api/v1/rooms/{self.room}/taps", json={}, headers=headers, name=f"{ROOM}/taps"
        )
        lat, lng = self.load_run.demo.somewhere_near_a_store(rng)
        with self.http.get(
            f"/api/v1/stores/nearest?lat={lat:.5f}&lng={lng:.5f}&limit=5",
            name="/api/v1/stores/nearest", catch_response=True,
        ) as resp:  # fmt: skip
            stores = resp.json().get("stores", []) if resp.status_code == 200 else []
            if resp.status_code == 200 and not stores:
                resp.failure("no store near a store's own position")
        if not stores:
            return
        store = rng.choice(stores[:3])
        slot = self._free_slot(store)
        if slot is None:
            self.load_run.fire("OUTCOME", "booking no-free-slot", 0)
            return
        services = store.get("services") or []
        body = {
            "store_id": store["id"],
            "slot": slot,
            "service": rng.choice(services) if services else "sourdough",
        }
        key = uuid.uuid4().hex
        booking_id = self._book(body, key, retry=False)
        if booking_id and rng.random() < 0.2:
            self._book(body, key, retry=True, expect=booking_id)  # a client retry: same answer

    def _free_slot(self, store: dict[str, Any]) -> str | None:
        rng = self.load_run.rng
        today = datetime.now(ZoneInfo(store.get("timezone") or "Asia/Shanghai")).date()
        first = rng.randint(0, 2)
        for offset in (first, first + 1):
            day = (today + timedelta(days=offset)).isoformat()
            with self.http.get(
                f"/api/v1/stores/{store['id']}/slots?date={day}",
                name="/api/v1/stores/[store]/slots", catch_response=True,
            ) as resp:  # fmt: skip
                if resp.status_code != 200:
                    resp.failure(f"slots answered {resp.status_code} {_slug(resp)}")
                    return None
                free = [s["start"] for s in resp.json()["slots"] if s["remaining"] > 0]
            if free:
                return str(rng.choice(free))
        return None

    def _book(self, body: dict[str, Any], key: str, *, retry: bool, expect: str = "") -> str:
        name = f"{ROOM}/bookings" + (" (retry)" if retry else "")
        with self.http.post(
            f"/api/v1/rooms/{self.room}/bookings", json=body, name=name, catch_response=True,
            headers=self.auth_headers(self.token, **{"Idempotency-Key": key}),
        ) as resp:  # fmt: skip
            if resp.status_code == 201:
                booking_id = str(resp.json()["id"])
                if retry:
                    if booking_id != expect:
                        resp.failure(
                            f"a retried Idempotency-Key answered {booking_id}, first {expect}"
                        )
                    return booking_id
                self.load_run.acked.booking(booking_id, body["store_id"], self.viewer_id)
                self.bookings.append((booking_id, body["store_id"]))
                BOARD.visits[booking_id] = body["store_id"]
                return booking_id
            if resp.status_code == 409 and not retry:  # slot full / already booked
                resp.success()
                self.load_run.fire("OUTCOME", f"booking {_slug(resp)}", 0)
                return ""
            resp.failure(f"booking answered {resp.status_code} {_slug(resp)}")
            return ""

    def cancel_one(self) -> None:
        """A viewer changes their mind: the seat goes back (not once checked in)."""
        booking_id, store_id = self.bookings.pop(self.load_run.rng.randrange(len(self.bookings)))
        if not BOARD.withdraw(booking_id):
            return  # the visitor is in the store already
        with self.http.delete(
            f"/api/v1/bookings/{booking_id}", headers=self.auth_headers(self.token),
            name="/api/v1/bookings/[booking]", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code == 200:
                self.load_run.acked.cancellation(booking_id, store_id)
            elif resp.status_code == 409:  # the slot started meanwhile
                resp.success()
                self.load_run.fire("OUTCOME", f"cancel {_slug(resp)}", 0)
            else:
                resp.failure(f"cancel answered {resp.status_code} {_slug(resp)}")


class Viewer(ViewerFlows, BroadcastSocketUser):
    """A viewer in the live room: watches (socket on /live), books a visit now and then,
    claims dropped coupons within seconds, sometimes asks a question."""

    weight = 1

    def wait_time(self) -> float:
        low, high = self.load_run.profile.viewer_wait_s
        return self.load_run.rng.uniform(low, high)

    def on_start(self) -> None:
        demo = self.load_run.demo
        self.room = demo.room_id
        self.token = ""
        self.viewer_id = ""
        self.bookings = []
        self.asked = 0
        self.claimed: set[str] = set()
        if self.join():
            self.connect_socket({"token": self.token})

    def _on_event(self, event: str, data: Any = None) -> None:
        self.delivered(event, data)
        if event == "coupon.dropped" and isinstance(data, dict) and self.token:
            campaign_id = str(data.get("id", ""))
            if campaign_id:
                BOARD.dropped(campaign_id)
            profile = self.load_run.profile
            if (
                campaign_id
                and campaign_id not in self.claimed
                and self.load_run.rng.random() < profile.claim_share
            ):
                self.claimed.add(campaign_id)
                delay = self.load_run.rng.uniform(0.1, profile.claim_within_s)
                self.greenlets.append(gevent.spawn_later(delay, self.claim, campaign_id))

    @task(3)
    def book_visit(self) -> None:
        self.book_once()

    @task(1)
    def cancel_visit(self) -> None:
        """Some viewers change their mind: the seat goes back."""
        if not self.bookings or self.load_run.rng.random() > 0.3:
            return
        self.cancel_one()

    # --- questions and watching -----------------------------------------------------------
    @task(1)
    def ask_question(self) -> None:
        if not self.token or self.asked >= 2:
            return
        self.asked += 1
        with self.http.post(
            f"/api/v1/rooms/{self.room}/questions", headers=self.auth_headers(self.token),
            json={"text": self.load_run.rng.choice(QUESTIONS)}, name=f"{ROOM}/questions",
            catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code not in (200, 201):
                resp.failure(f"question answered {resp.status_code} {_slug(resp)}")

    @task(6)
    def watch(self) -> None:
        """Most of a broadcast is watching: the socket stays open, nothing is sent."""


class CrowdUser(ViewerFlows, FastHttpUser):
    """A viewer of the broadcast profile's crowd (whose socket the Node carrier holds)
    seen from its HTTP side only: no Socket.IO client in locust."""

    abstract = True

    def on_start(self) -> None:
        self.load_run = current()
        self.http = self.client
        self.room = self.load_run.demo.room_id
        self.token = ""
        self.viewer_id = ""
        self.bookings = []


class Booker(CrowdUser):
    """Viewers tapping "book a visit", one after another: a new identity every
    ``max_bookings_per_viewer`` bookings, paced by the locustfile (``bookings_per_s``
    over all bookers); 1 in 20 cancels one of theirs."""

    fixed_count = 0  # the locustfile sets it from the profile (0: not in the run)
    wait_time = constant(1)  # the locustfile paces it

    @task
    def book(self) -> None:
        if not self.token or len(self.bookings) >= self.load_run.profile.max_bookings_per_viewer:
            if not self.join():
                return
        self.book_once()
        if self.bookings and self.load_run.rng.random() < 0.05:
            self.cancel_one()


class Claimer(CrowdUser):
    """A viewer waiting for the host's coupon: claims each drop (seen by the process's
    socket viewers) within ``claim_within_s`` of it. Many claimers, fewer codes: the
    stock is gone in seconds and the rest are told "sold out"."""

    fixed_count = 0  # the locustfile sets it from the profile
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.claimed: set[str] = set()
        self.join()

    @task
    def claim_drops(self) -> None:
        fresh = [c for c in BOARD.drops if c not in self.claimed]
        if not fresh:
            BOARD.signal.wait(timeout=5)  # until the next drop (gevent: no busy loop)
            return
        campaign_id = fresh[0]
        self.claimed.add(campaign_id)
        if not self.token:
            return
        since_drop = time.monotonic() - BOARD.drops[campaign_id]
        delay = self.load_run.rng.uniform(0.1, self.load_run.profile.claim_within_s)
        gevent.sleep(max(0.0, delay - since_drop))
        self.claim(campaign_id)


class StoreStaff(FastHttpUser):
    """Staff at the till: check booked visitors in (``arrive``) and redeem claimed codes,
    each at the booking's store (the code at any store of the brand: campaigns are valid
    in all of them)."""

    fixed_count = 0  # the locustfile sets it from the profile

    def wait_time(self) -> float:
        low, high = self.load_run.profile.staff_wait_s
        return self.load_run.rng.uniform(low, high)

    def on_start(self) -> None:
        self.load_run = current()
        self.tokens = {s.id: s.staff_token for s in self.load_run.demo.stores}

    @task
    def check_in(self) -> None:
        visit = BOARD.next_visit()
        if visit is None:
            return
        booking_id, store_id = visit
        with self.client.post(
            f"/api/v1/stores/{store_id}/bookings/{booking_id}/arrive",
            headers={"Authorization": f"Bearer {self.tokens[store_id]}"},
            name="/api/v1/stores/[store]/bookings/[booking]/arrive", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code == 200 and resp.json().get("first"):
                self.load_run.acked.arrival(booking_id, store_id)
            elif resp.status_code == 200:
                resp.failure(f"{booking_id} was checked in before (first: false)")
            else:
                resp.failure(f"check-in answered {resp.status_code} {_slug(resp)}")

    @task
    def redeem(self) -> None:
        if not BOARD.codes:
            return
        campaign_id, code = BOARD.codes.popleft()
        store_id = self.load_run.rng.choice(self.load_run.demo.stores).id
        with self.client.post(
            f"/api/v1/stores/{store_id}/redemptions",
            json={"code": code, "order_amount": 128},
            headers={"Authorization": f"Bearer {self.tokens[store_id]}"},
            name="/api/v1/stores/[store]/redemptions", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code == 200:
                self.load_run.acked.redemption(campaign_id, code, store_id)
            else:
                resp.failure(f"redemption answered {resp.status_code} {_slug(resp)}")


class Host(BroadcastSocketUser):
    """The host: on /host, reads the question feed, pins the top card, drops coupons on
    the profile's schedule (create the campaign, then drop it)."""

    fixed_count = 1
    namespace = "/host"

    def wait_time(self) -> float:
        # Every 2 s, but wake up in time for the next drop.
        due = self._next_drop()
        return 2.0 if due is None else max(0.05, min(2.0, due - self.load_run.elapsed()))

    def on_start(self) -> None:
        self.room = self.load_run.demo.room_id
        self.token = self.load_run.demo.host_token
        self.dropped = 0
        self.last_pin = 0.0
        # batch: the room's events as host.batch packets (what the host console does)
        self.connect_socket({"token": self.token, "batch": True})

    def _on_event(self, event: str, data: Any = None) -> None:
        if event == "host.batch" and isinstance(data, dict):
            for entry in data.get("events", ()):
                if isinstance(entry, dict):
                    self.delivered(str(entry.get("event")), entry.get("data"))
            return
        self.delivered(event, data)

    def _next_drop(self) -> float | None:
        drops = self.load_run.profile.drops_s
        return drops[self.dropped] if self.dropped < len(drops) else None

    @task
    def host_loop(self) -> None:
        due = self._next_drop()
        if due is not None and self.load_run.elapsed() >= due:
            self.dropped += 1
            self.drop_coupons()
        self.read_feed()

    def drop_coupons(self) -> None:
        headers = self.auth_headers(self.token)
        campaign = {
            "title": f"直播间专享 Live-only ¥10 off #{self.dropped}", "value": 10,
            "quantity": self.load_run.profile.coupon_quantity, "per_user": 1,
            "expires_at": int(time.time()) + 3600,
        }  # fmt: skip
        with self.http.post(
            f"/api/v1/rooms/{self.room}/campaigns", json=campaign, headers=headers,
            name=f"{ROOM}/campaigns", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code != 201:
                resp.failure(f"campaign answered {resp.status_code} {_slug(resp)}")
                return
            campaign_id = resp.json()["id"]
        self.http.post(
            f"/api/v1/rooms/{self.room}/campaigns/{campaign_id}/drop", headers=headers,
            name=f"{ROOM}/campaigns/[campaign]/drop",
        )  # fmt: skip

    def read_feed(self) -> None:
        with self.http.get(
            f"/api/v1/rooms/{self.room}/questions?sort=top&limit=50",
            headers=self.auth_headers(self.token), name=f"{ROOM}/questions",
            catch_response=True,
        ) as resp:  # fmt: skip
            cards = resp.json().get("questions", []) if resp.status_code == 200 else []
        now = self.load_run.elapsed()
        fresh = [c for c in cards if c.get("status") == "new"]
        if fresh and now - self.last_pin > 10:  # the host answers one question at a time
            self.last_pin = now
            self.http.post(
                f"/api/v1/questions/{fresh[0]['id']}/pin", headers=self.auth_headers(self.token),
                name="/api/v1/questions/[question]/pin",
            )  # fmt: skip


_bot_numbers = itertools.count()
_dashboard_numbers = itertools.count()


class GroupBot(FastHttpUser):
    """A community group's chat bot forwarding members' questions, signed with the group
    secret (well under the per-group rate limit)."""

    fixed_count = 5  # one per demo group; the locustfile sets it from demo.json
    wait_time = between(1.5, 3.5)

    def on_start(self) -> None:
        self.load_run = current()
        groups = self.load_run.demo.groups
        self.community_group = groups[next(_bot_numbers) % len(groups)]

    @task
    def forward_question(self) -> None:
        rng = self.load_run.rng
        member = rng.randint(1, 400)
        body = json.dumps(
            {
                "message_id": uuid.uuid4().hex, "author_id": f"m{member}",
                "author_name": f"会员{member}", "text": rng.choice(QUESTIONS),
                "sent_at": int(time.time()),
            },
            ensure_ascii=False,
        ).encode()  # fmt: skip
        stamp = str(int(time.time()))
        signature = hmac.new(
            self.community_group.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256
        )
        with self.client.post(
            f"/api/v1/groups/{self.community_group.id}/messages",
            data=body,  # type: ignore[arg-type]  # locust says str | dict; bytes are sent as is
            catch_response=True,
            headers={
                "Content-Type": "application/json", "X-Timestamp": stamp,
                "X-Signature": f"sha256={signature.hexdigest()}",
            },
            name="/api/v1/groups/[group]/messages",
        ) as resp:  # fmt: skip
            if resp.status_code not in (200, 201):
                resp.failure(f"group message answered {resp.status_code} {_slug(resp)}")


COMMENTS = [
    "来了",
    "666",
    "主播好",
    "月饼礼盒还有吗？",
    "哪家门店可以自提？",
    "周末烘焙课怎么报名",
    "欧包几点出炉？",
    "优惠券在门店能用吗",
    "想要！",
    "好看",
    "定制蛋糕要提前几天？",
]
DOUYIN_BATCH = 50


class CommentStorm(FastHttpUser):
    """The platform's side of a broadcast: Douyin pushes the live room's comments and likes
    in batches of 50, signed as its open platform documents (base64(md5(sorted x- headers +
    body + secret))). Mostly chatter, some questions (which reach the host's feed merged),
    likes in between. One user; off when demo.json has no Douyin binding."""

    fixed_count = 1  # the locustfile sets 0 when the demo has no Douyin room
    wait_time = constant(0.5)  # 100 messages/s at the default batch

    def on_start(self) -> None:
        self.load_run = current()
        self.sent = itertools.count()

    def _push(self, msg_type: str, messages: list[dict[str, Any]]) -> None:
        demo = self.load_run.demo
        body = json.dumps(messages, ensure_ascii=False).encode()
        headers = {
            "x-nonce-str": uuid.uuid4().hex[:16], "x-timestamp": str(int(time.time() * 1000)),
            "x-roomid": demo.douyin_room_id, "x-msg-type": msg_type,
        }  # fmt: skip
        signed = "&".join(f"{k}={headers[k]}" for k in sorted(headers)).encode()
        digest = hashlib.md5(signed + body + demo.douyin_secret.encode(), usedforsecurity=False)
        headers["x-signature"] = base64.b64encode(digest.digest()).decode()
        headers["Content-Type"] = "application/json"
        with self.client.post(
            "/api/v1/platforms/douyin/push",
            data=body,  # type: ignore[arg-type]  # locust says str | dict; bytes are sent as is
            headers=headers, catch_response=True,
            name=f"/api/v1/platforms/douyin/push [{msg_type}]",
        ) as resp:  # fmt: skip
            if resp.status_code != 200:
                resp.failure(f"douyin push answered {resp.status_code} {_slug(resp)}")

    def _message(self, rng: Any) -> dict[str, Any]:
        viewer = rng.randint(1, 5000)
        return {
            "msg_id": uuid.uuid4().hex, "sec_openid": f"storm-{viewer}",
            "nickname": f"观众{viewer}", "avatar_url": "", "timestamp": int(time.time()),
        }  # fmt: skip

    @task(4)
    def comments(self) -> None:
        rng = self.load_run.rng
        self._push("live_comment", [
            {**self._message(rng), "content": rng.choice(COMMENTS)} for _ in range(DOUYIN_BATCH)
        ])  # fmt: skip

    @task(1)
    def likes(self) -> None:
        rng = self.load_run.rng
        self._push("live_like", [
            {**self._message(rng), "like_num": rng.randint(1, 30)} for _ in range(DOUYIN_BATCH)
        ])  # fmt: skip


class StoreDashboard(BroadcastSocketUser):
    """A store's staff dashboard on /store: live booking entries in stream order, acked as
    handled; staff open a booking now and then."""

    fixed_count = 6  # the locustfile sets it from the profile
    namespace = "/store"
    wait_time = constant(4)

    def on_start(self) -> None:
        stores = self.load_run.demo.stores
        self.store = stores[next(_dashboard_numbers) % len(stores)]
        self.synced = False
        self.last_id: tuple[int, int] = (0, 0)
        self.recent: list[str] = []
        # batch: entries ready together come as one store.batch (what the dashboard page does)
        self.connect_socket({"token": self.store.staff_token, "batch": True})

    def _on_event(self, event: str, data: Any = None) -> None:
        if event == "store.batch" and isinstance(data, dict):
            entries = [e for e in data.get("events", ()) if isinstance(e, dict)]
            for entry in entries:
                self._on_entry(str(entry.get("event")), entry.get("data"), ack=False)
            if entries and isinstance(entries[-1].get("data"), dict):
                last = entries[-1]["data"].get("id")
                if last:  # one ack for the batch: its last id
                    socketio.Client.emit(
                        self.sio, "ack", {"id": str(last)}, namespace=self.namespace
                    )
            return
        self._on_entry(event, data, ack=True)

    def _on_entry(self, event: str, data: Any, *, ack: bool) -> None:
        if event == "store.synced":
            self.synced = True  # what follows is live: its latency means something
            return
        if not isinstance(data, dict) or "id" not in data:
            return
        entry = str(data["id"])
        ms, _, seq = entry.partition("-")
        position = (int(ms), int(seq or 0))
        if position <= self.last_id:
            self.load_run.fire(
                "STORE", "stream order", 0, RuntimeError(f"{entry} after {self.last_id}")
            )
            return
        self.last_id = position
        if self.synced:
            self.delivered(event, data)
        if event == "booking.created" and data.get("booking_id"):
            self.recent = [*self.recent[-19:], str(data["booking_id"])]
        if ack:  # the dashboard handled it (socketio.Client.emit: not a locust "request")
            socketio.Client.emit(self.sio, "ack", {"id": entry}, namespace=self.namespace)

    @task
    def open_booking(self) -> None:
        if not self.recent:
            return
        booking_id = self.load_run.rng.choice(self.recent)
        with self.http.get(
            f"/api/v1/bookings/{booking_id}", headers=self.auth_headers(self.store.staff_token),
            name="/api/v1/bookings/[booking]", catch_response=True,
        ) as resp:  # fmt: skip
            if resp.status_code != 200:
                resp.failure(f"staff could not open {booking_id}: {resp.status_code} {_slug(resp)}")
