"""Crash-test harness: a real ``live-server serve`` subprocess, a bounded load of real HTTP
clients that records every acknowledged write, and the invariant check against Redis.

Nothing is mocked: the server is the CLI a deployment runs (``--workers 2 --demo`` with its
embedded Valkey), the clients are aiohttp over TCP, and the check reads Redis through the
keys in :mod:`live_server.core.keys` and the domains' own decoders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import redis as sync_redis

from coupons.codes import CodeBook
from live_server.bookings.models import booking_from_hash, store_of_booking
from live_server.core import keys
from live_server.core.embedded_redis import _process_is_valkey, free_port
from live_server.demo import demo_stores
from live_server.store_streams.events import decode_entry
from tests.live_server.test_serve import children_of, wait_ready

ROOM = "r_demo"
CAPACITY = {s.id: s.capacity for s in demo_stores()}


# --- the server process ---------------------------------------------------------------


@dataclass
class ServerProcess:
    """``live-server serve --demo`` in its own process group, on a fixed port and data dir."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    workers: int = 2
    fsync: str = "always"
    env: dict[str, str] = field(default_factory=dict)  # more environment for the server
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
        # Limits are not under test here (tests/live_server/test_limits.py): a few dozen
        # viewers on one address make far more claims than a person could.
        env["LIVE_RATE_LIMITS"] = "0"
        env.update(self.env)
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "live_server.cli", "serve", "--demo",
             "--workers", str(self.workers), "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--aof-fsync", self.fsync],
            env=env, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_ready(f"{self.base}/readyz", self.proc, timeout=45)

    def demo(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "demo.json").read_text()))

    def descendants(self) -> list[int]:
        assert self.proc is not None
        found = children_of(self.proc.pid)
        for child in list(found):
            found += children_of(child)
        return found

    def valkey_pid(self) -> int:
        (pid,) = [p for p in self.descendants() if _process_is_valkey(p)]
        return pid

    def worker_pids(self) -> list[int]:
        """The supervisor's worker children (multiprocessing spawn), not Valkey nor the
        multiprocessing resource tracker."""
        assert self.proc is not None
        out = []
        for pid in children_of(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                out.append(pid)
        return out

    async def serving_nodes(self, expected: int, within: float = 30) -> set[str]:
        """Poll /healthz on fresh connections until ``expected`` distinct workers answered
        (X-Served-By): a spawned process is not yet a listening worker."""
        nodes: set[str] = set()
        deadline = asyncio.get_running_loop().time() + within
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            while len(nodes) < expected:
                assert asyncio.get_running_loop().time() < deadline, f"workers seen: {nodes}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/healthz") as resp:
                        nodes.add(resp.headers["X-Served-By"])
        return nodes

    def redis_url(self) -> str:
        # Valkey rewrites its title to "valkey-server 127.0.0.1:<port>".
        title = Path(f"/proc/{self.valkey_pid()}/cmdline").read_bytes().split(b"\0")[0]
        port = int(title.rsplit(b":", 1)[1].split()[0])
        return f"redis://127.0.0.1:{port}/0"

    def kill_everything(self) -> None:
        """A machine-crash stand-in: SIGKILL the embedded Valkey (its own session, so it
        would otherwise get a graceful SIGTERM from its parent-death signal) and the whole
        server process group, with no chance to flush or finish anything."""
        assert self.proc is not None
        valkey = self.valkey_pid()
        os.kill(valkey, signal.SIGKILL)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while _process_is_valkey(valkey) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


# --- the load ---------------------------------------------------------------------------


@dataclass
class Acked:
    """Every write a client saw acknowledged (the 2xx body), and what else happened."""

    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)  # code -> viewer id
    redemptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> body
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Scenario:
    """What the load works on: the demo room, one dropped campaign, a pool of slots."""

    campaign_id: str
    day: str
    slots: list[tuple[str, str]]  # (store id, slot start)
    stores: dict[str, str]  # store id -> staff token
    viewers: list[tuple[str, str]]  # (viewer id, token)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def prepare(base: str, demo: dict[str, Any], viewers: int = 40) -> Scenario:
    """Create and drop a campaign, pick a day's slots at three stores, make viewers."""
    host = _auth(demo["host_token"])
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/api/v1/rooms/{ROOM}/campaigns", headers=host,
            json={"title": "crash test", "value": 10, "quantity": 3000, "per_user": 100,
                  "expires_at": int(time.time()) + 3600},
        ) as resp:  # fmt: skip
            assert resp.status == 201, await resp.text()
            campaign = (await resp.json())["id"]
        async with http.post(
            f"{base}/api/v1/rooms/{ROOM}/campaigns/{campaign}/drop", headers=host
        ) as resp:
            assert resp.status == 200, await resp.text()
        slots: list[tuple[str, str]] = []
        for store in demo["stores"]:
            async with http.get(f"{base}/api/v1/stores/{store['id']}/slots?date={day}") as resp:
                assert resp.status == 200, await resp.text()
                found = [(store["id"], s["start"]) for s in (await resp.json())["slots"]]
            if found:
                slots += found[:24]  # 24 slots x 4..8 seats: some fill up under the load
            if len({s for s, _ in slots}) == 3:
                break
        made = []
        for _ in range(viewers):
            async with http.post(f"{base}/api/v1/rooms/{ROOM}/viewers", json={}) as resp:
                assert resp.status == 201, await resp.text()
                body = await resp.json()
                made.append((body["viewer_id"], body["token"]))
    stores = {s["id"]: s["staff_token"] for s in demo["stores"]}
    return Scenario(campaign, day, slots, stores, made)


async def _viewer_loop(
    http: aiohttp.ClientSession, base: str, sc: Scenario, viewer: tuple[str, str],
    acked: Acked, stop: asyncio.Event, rng: random.Random,
) -> None:  # fmt: skip
    viewer_id, token = viewer
    claim_url = f"{base}/api/v1/rooms/{ROOM}/campaigns/{sc.campaign_id}/claim"
    while not stop.is_set():
        try:
            if rng.random() < 0.5:
                store_id, slot = rng.choice(sc.slots)
                async with http.post(
                    f"{base}/api/v1/rooms/{ROOM}/bookings",
                    headers={**_auth(token), "Idempotency-Key": uuid.uuid4().hex},
                    json={"store_id": store_id, "slot": slot, "service": "cake-consult"},
                ) as resp:  # fmt: skip
                    acked.outcomes[f"booking {resp.status}"] += 1
                    if resp.status == 201:
                        body = await resp.json()
                        acked.bookings[body["id"]] = body
            else:
                async with http.post(
                    claim_url, headers={**_auth(token), "Idempotency-Key": uuid.uuid4().hex}
                ) as resp:
                    acked.outcomes[f"claim {resp.status}"] += 1
                    if resp.status != 201:
                        continue
                    code = (await resp.json())["code"]
                    acked.claims[code] = viewer_id
                if rng.random() < 0.3:  # a redemption or two (or many) at the till
                    store_id = rng.choice(list(sc.stores))
                    async with http.post(
                        f"{base}/api/v1/stores/{store_id}/redemptions",
                        headers=_auth(sc.stores[store_id]),
                        json={"code": code, "order_amount": 50},
                    ) as resp:  # fmt: skip
                        acked.outcomes[f"redeem {resp.status}"] += 1
                        if resp.status == 200:
                            acked.redemptions[code] = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The worker died mid-request, or Redis is gone: not acknowledged, move on.
            acked.outcomes[f"error {type(exc).__name__}"] += 1


async def run_load(base: str, sc: Scenario, stop: asyncio.Event, seed: int = 9) -> Acked:
    """Every viewer loops (book or claim, sometimes redeem) until ``stop`` is set.

    A fresh connection per request, so the kernel spreads them over both workers and a
    dead worker's share moves to the live one.
    """
    acked = Acked()
    rng = random.Random(seed)
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(force_close=True, limit=len(sc.viewers))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(
            *(_viewer_loop(http, base, sc, v, acked, stop, rng) for v in sc.viewers)
        )
    return acked


# --- the invariants ------------------------------------------------------------------------


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def store_events(r: sync_redis.Redis, store_id: str) -> list[dict[str, Any]]:
    return [decode_entry(i, f) for i, f in r.xrange(keys.store_stream(store_id))]


def check_invariants(
    r: sync_redis.Redis, secret: str, sc: Scenario, acked: Acked
) -> dict[str, int]:
    """Assert that nothing acknowledged is lost and that the counters match the records;
    returns a few numbers for the report."""
    # Stream entries of every store (redemptions may land in any store's stream).
    events = {store_id: store_events(r, store_id) for store_id in sc.stores}

    # Bookings: every acknowledged one is stored, confirmed, and in its store's stream.
    created: dict[str, dict[str, Any]] = {}
    for store_id, entries in events.items():
        for e in entries:
            if e["type"] == "booking.created":
                assert e["store_id"] == store_id
                assert e["booking_id"] not in created, f"booking.created twice: {e['booking_id']}"
                created[e["booking_id"]] = e
    for booking_id, body in acked.bookings.items():
        store_id = store_of_booking(booking_id)
        raw = r.hgetall(keys.store_booking(store_id, booking_id))
        assert raw, f"acknowledged booking {booking_id} is not in Redis"
        stored = booking_from_hash(raw)
        assert stored.model_dump() == body, (stored, body)
        assert booking_id in created, f"acknowledged booking {booking_id} not in its store stream"
        assert _s(raw[b"created_stream_id"]) == created[booking_id]["id"]

    # Capacity: the day's seat counters equal the bookings recorded, never above capacity,
    # and every recorded booking (acknowledged or not) is a stored booking.
    per_slot: Counter[tuple[str, int]] = Counter()
    for booking_id, e in created.items():
        assert r.exists(keys.store_booking(e["store_id"], booking_id)), booking_id
        per_slot[(e["store_id"], int(e["slot_ts"]))] += 1
    for store_id in {s for s, _ in sc.slots}:
        seats = {
            int(k): int(v) for k, v in r.hgetall(keys.store_slot_seats(store_id, sc.day)).items()
        }
        recorded = {ts: n for (s, ts), n in per_slot.items() if s == store_id}
        assert seats == recorded, (store_id, seats, recorded)
        holders = r.hlen(keys.store_slot_holders(store_id, sc.day))
        assert holders == sum(recorded.values()), (store_id, holders, recorded)
        assert all(n <= CAPACITY[store_id] for n in seats.values()), ("overbooked", store_id, seats)
    # Claims: every acknowledged code is the viewer's, in the campaign's codes.
    book = CodeBook(secret)
    codes = {
        _s(k): json.loads(v) for k, v in r.hgetall(keys.campaign_codes(sc.campaign_id)).items()
    }
    for text, viewer_id in acked.claims.items():
        code = book.parse(text)
        assert code.campaign_id == sc.campaign_id
        assert code.nonce in codes, f"acknowledged claim {text} is not in Redis"
        assert codes[code.nonce]["v"] == viewer_id

    # Redemptions: the code record says redeemed there, and the store stream has exactly
    # one coupon.redeemed for it.
    redeemed_entries: Counter[str] = Counter()
    for store_id, entries in events.items():
        for e in entries:
            if e["type"] == "coupon.redeemed":
                assert e["store_id"] == store_id
                redeemed_entries[e["code"]] += 1
    for text, body in acked.redemptions.items():
        rec = codes[book.parse(text).nonce]
        assert rec["s"] == "redeemed" and rec["st"] == body["store_id"], (text, rec, body)
        assert redeemed_entries[text] == 1, (
            f"acknowledged redemption {text}: {redeemed_entries[text]} entries"
        )

    # Stock: the campaign's counters equal its records.
    meta = {_s(k): _s(v) for k, v in r.hgetall(keys.campaign(sc.campaign_id)).items()}
    owners = {_s(k): int(v) for k, v in r.hgetall(keys.campaign_owners(sc.campaign_id)).items()}
    held: Counter[str] = Counter(rec["v"] for rec in codes.values())
    redeemed = [n for n, rec in codes.items() if rec["s"] == "redeemed"]
    assert int(meta["claimed"]) == len(codes)
    assert int(meta["remaining"]) == int(meta["quantity"]) - len(codes) >= 0
    assert owners == dict(held)
    assert int(meta["redeemed"]) == len(redeemed)
    assert sum(redeemed_entries.values()) == len(redeemed), (
        "a redemption without (or with two) entries"
    )
    assert all(n == 1 for n in redeemed_entries.values())
    # The room funnel is a follow-up on another tag (not repaired after a crash): it may
    # only ever fall short of the records, never exceed them.
    funnel = int(r.hget(keys.room_stats(ROOM), f"total:{keys.STAT_BOOKINGS}") or 0)
    assert funnel <= len(created), (funnel, len(created))
    return {
        "funnel_bookings": funnel,
        "bookings_acked": len(acked.bookings),
        "bookings_recorded": len(created),
        "claims_acked": len(acked.claims),
        "codes_recorded": len(codes),
        "redemptions_acked": len(acked.redemptions),
        "redemptions_recorded": len(redeemed),
    }


def wait_appended(r: sync_redis.Redis, campaign_id: str, timeout: float = 20) -> None:
    """The coupon sweeper appends the store-stream entry of a redemption whose follow-up a
    crash interrupted; wait (bounded) until nothing is left unappended."""
    deadline = time.monotonic() + timeout
    while r.scard(keys.campaign_unappended(campaign_id)):
        assert time.monotonic() < deadline, "redemptions left unappended to their store stream"
        time.sleep(0.1)
