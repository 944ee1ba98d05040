"""After a run: read Redis and prove nothing was oversold, overbooked or lost.

Checks (any violation fails the run):

* bookings: per slot, seats taken <= the store's capacity, and equal to the active
  bookings the store's stream accounts for (created minus cancelled);
* every booking (from the stream, from the day's holders, and every 201 the users saw)
  exists, and its ``created_stream_id`` is a ``booking.created`` entry of its store's
  stream naming it; cancelled ones are cancelled, the others are not;
* coupons: per campaign, codes issued <= quantity, ``remaining + claimed + released ==
  quantity``, one code record per claim, per-viewer holdings within ``per_user``, and
  every code a user was given exists and belongs to that user;
* every check-in staff were answered 200 is ``arrived``, every code redeemed with a 200 is
  ``redeemed``.

No SCAN, no KEYS (cluster-friendly): stores come from the registry hash, campaigns from
the room's campaign index, bookings from each store's stream and the days it names.
Only single-key reads, pipelined without transactions.

Also a command: ``python -m loadtest.integrity --redis-url URL --room r_demo
--acked a.jsonl [--acked b.jsonl ...]`` (e.g. with the files of distributed workers).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from live_server.core import keys
from loadtest.acked import Acknowledged

PAGE = 1000
MAX_REPORTED = 50  # violations listed in full; the rest are counted


@dataclass
class IntegrityReport:
    ran: bool = True
    violations: list[str] = field(default_factory=list)
    violation_count: int = 0
    checked: dict[str, int] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.ran and self.violation_count == 0

    def violate(self, text: str) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_REPORTED:
            self.violations.append(text)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checked"] = dict(self.checked)
        out["ok"] = self.ok
        return out


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(url: str, cluster: bool = False) -> Any:
    """A synchronous client (plain or cluster) for the checks."""
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url)
    import redis

    return redis.Redis.from_url(url)


def _stream(client: Any, key: str) -> list[tuple[str, dict[bytes, bytes]]]:
    entries: list[tuple[str, dict[bytes, bytes]]] = []
    low = "-"
    while True:
        page = client.xrange(key, min=low, max="+", count=PAGE)
        entries += [(_s(i), f) for i, f in page]
        if len(page) < PAGE:
            return entries
        low = "(" + _s(page[-1][0])


def check(client: Any, room_id: str, acked: Acknowledged) -> IntegrityReport:
    """Run every check; never raises on a violation (it is reported)."""
    report = IntegrityReport()
    stores = {
        _s(k): msgpack.unpackb(v) for k, v in client.hgetall(keys.STORES).items()
    }  # fmt: skip
    acked_by_store: dict[str, list[str]] = defaultdict(list)
    for booking_id, (store_id, _viewer) in acked.bookings.items():
        acked_by_store[store_id].append(booking_id)
        if store_id not in stores:
            report.violate(f"acknowledged booking {booking_id}: unknown store {store_id}")
    for store_id, store in stores.items():
        _check_store(
            client, store_id, int(store.get("capacity", 0)), acked, acked_by_store[store_id], report
        )
    report.checked["stores"] = len(stores)
    _check_coupons(client, room_id, acked, report)
    return report


def _check_store(
    client: Any, store_id: str, capacity: int, acked: Acknowledged, acked_ids: list[str],
    report: IntegrityReport,
) -> None:  # fmt: skip
    entries = _stream(client, keys.store_stream(store_id))
    report.checked["stream_entries"] += len(entries)
    created: dict[str, tuple[str, str, int]] = {}  # booking -> (entry id, day, slot_ts)
    cancelled: set[str] = set()
    for entry_id, fields in entries:
        kind = _s(fields.get(b"type", b""))
        if kind not in ("booking.created", "booking.cancelled"):
            continue
        data = msgpack.unpackb(fields[b"data"])
        booking_id = str(data.get("booking_id") or data.get("id"))
        if kind == "booking.cancelled":
            cancelled.add(booking_id)
            continue
        if booking_id in created:
            report.violate(f"{store_id}: booking {booking_id} created twice in the stream")
        created[booking_id] = (entry_id, str(data["slot"])[:10], int(data["slot_ts"]))

    # Every day the stream or the users name: its seats and its holders.
    days = {day for _, day, _ in created.values()}
    to_read = sorted(set(created) | set(acked_ids))
    bookings: dict[str, dict[bytes, bytes]] = {}
    for start in range(0, len(to_read), PAGE):
        chunk = to_read[start : start + PAGE]
        with client.pipeline(transaction=False) as pipe:
            for booking_id in chunk:
                pipe.hgetall(keys.store_booking(store_id, booking_id))
            bookings.update(zip(chunk, pipe.execute(), strict=True))
    for raw in bookings.values():
        if raw.get(b"slot"):
            days.add(_s(raw[b"slot"])[:10])
    day_list = sorted(days)
    with client.pipeline(transaction=False) as pipe:
        for day in day_list:
            pipe.hgetall(keys.store_slot_seats(store_id, day))
            pipe.hgetall(keys.store_slot_holders(store_id, day))
        day_hashes = pipe.execute()

    stream_ids = {entry_id for entry_id, _ in entries}
    for booking_id, raw in bookings.items():
        report.checked["bookings"] += 1
        where = f"{store_id}: booking {booking_id}"
        if not raw:
            report.violate(
                f"{where} is missing from Redis"
                + (" (acknowledged 201)" if booking_id in acked.bookings else "")
            )
            continue
        stream_id = _s(raw.get(b"created_stream_id", b""))
        if stream_id not in stream_ids or created.get(booking_id, ("",))[0] != stream_id:
            report.violate(
                f"{where} has no booking.created entry {stream_id or '(none)'} in the store stream"
            )
        status = _s(raw.get(b"status", b""))
        gone = booking_id in cancelled or booking_id in acked.cancelled
        if gone and status != "cancelled":
            report.violate(f"{where} was cancelled but is {status}")
        if not gone and status not in ("confirmed", "arrived"):
            report.violate(f"{where} is {status!r} without a cancellation")
        if booking_id in acked.arrived:
            report.checked["acknowledged_arrivals"] += 1
            if status != "arrived":
                report.violate(f"{where} was checked in (200) but is {status!r}")
        if booking_id in acked.bookings:
            report.checked["acknowledged_bookings"] += 1
            if _s(raw.get(b"viewer_id", b"")) != acked.bookings[booking_id][1]:
                report.violate(f"{where} belongs to another viewer than the one told 201")

    active: Counter[tuple[str, int]] = Counter(
        (day, slot_ts) for bid, (_, day, slot_ts) in created.items() if bid not in cancelled
    )
    for i, day in enumerate(day_list):
        seats, holders = day_hashes[2 * i], day_hashes[2 * i + 1]
        for slot_raw, taken_raw in seats.items():
            slot_ts, taken = int(slot_raw), int(taken_raw)
            report.checked["slots"] += 1
            if taken > capacity:
                report.violate(
                    f"{store_id} {day} slot {slot_ts}: {taken} seats taken > capacity {capacity}"
                )
            if taken != active[(day, slot_ts)]:
                report.violate(
                    f"{store_id} {day} slot {slot_ts}: seats say {taken}, the stream accounts "
                    f"for {active[(day, slot_ts)]} active bookings"
                )
        for holder, booking_raw in holders.items():
            booking_id = _s(booking_raw)
            report.checked["holders"] += 1
            if booking_id not in created:
                report.violate(
                    f"{store_id} {day}: holder {_s(holder)} -> {booking_id} has no stream entry"
                )
    for (day, slot_ts), count in active.items():
        if count > capacity:
            report.violate(
                f"{store_id} {day} slot {slot_ts}: {count} active bookings > capacity {capacity}"
            )


def _nonce_of(code: str) -> tuple[str, str]:
    """(campaign id, nonce) of a code as shown (see coupons/codes.py: ref 5, nonce 5, mac 6)."""
    text = code.replace("-", "").replace(" ", "").upper()
    return "cp_" + text[:5], text[5:10]


def _check_coupons(client: Any, room_id: str, acked: Acknowledged, report: IntegrityReport) -> None:
    campaigns = [_s(c) for c in client.zrange(keys.room_campaigns(room_id), 0, -1)]
    acked_codes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for campaign_id, code, viewer in acked.codes:
        acked_codes[campaign_id].append((code, viewer))
    for campaign_id in sorted(set(campaigns) | set(acked_codes)):
        with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.campaign(campaign_id))
            pipe.hgetall(keys.campaign_codes(campaign_id))
            pipe.hgetall(keys.campaign_owners(campaign_id))
            meta, codes, owners = pipe.execute()
        report.checked["campaigns"] += 1
        where = f"campaign {campaign_id}"
        if not meta:
            report.violate(f"{where}: codes were handed out but the campaign is missing")
            continue
        quantity = int(meta.get(b"quantity", 0))
        remaining = int(meta.get(b"remaining", 0))
        claimed = int(meta.get(b"claimed", 0))
        released = int(meta.get(b"released", 0))
        per_user = int(meta.get(b"per_user", 1))
        records = {_s(n): json.loads(v) for n, v in codes.items()}
        live = sum(1 for r in records.values() if r.get("s") != "void")
        report.checked["codes"] += len(records)
        if claimed > quantity or len(records) > quantity or live > quantity:
            report.violate(
                f"{where}: {len(records)} codes / {claimed} claimed for a quantity of {quantity}"
            )
        if remaining < 0:
            report.violate(f"{where}: remaining is {remaining}")
        if remaining + claimed + released != quantity:
            report.violate(
                f"{where}: remaining {remaining} + claimed {claimed} + released {released} "
                f"!= quantity {quantity}"
            )
        if len(records) != claimed:
            report.violate(f"{where}: {len(records)} code records for {claimed} claims")
        held = {_s(v): int(n) for v, n in owners.items()}
        if sum(held.values()) != claimed:
            report.violate(f"{where}: owners hold {sum(held.values())} codes, {claimed} claimed")
        for viewer, n in held.items():
            if n > per_user:
                report.violate(f"{where}: viewer {viewer} holds {n} codes (per_user {per_user})")
        per_viewer = Counter(r.get("v") for r in records.values())
        for viewer, n in per_viewer.items():
            if held.get(str(viewer), 0) != n:
                report.violate(
                    f"{where}: viewer {viewer} has {n} code records, "
                    f"owners says {held.get(str(viewer), 0)}"
                )
        seen: dict[str, str] = {}
        for code, viewer in acked_codes.get(campaign_id, []):
            report.checked["acknowledged_codes"] += 1
            ref, nonce = _nonce_of(code)
            record = records.get(nonce)
            if ref != campaign_id or record is None:
                report.violate(f"{where}: code {code} given to {viewer} does not exist")
            elif record.get("v") != viewer:
                report.violate(
                    f"{where}: code {code} given to {viewer} belongs to {record.get('v')}"
                )
            if seen.setdefault(nonce, viewer) != viewer:
                report.violate(
                    f"{where}: code {code} given to two viewers ({seen[nonce]}, {viewer})"
                )
            if code in acked.redeemed:
                report.checked["acknowledged_redemptions"] += 1
                if record is not None and record.get("s") != "redeemed":
                    report.violate(
                        f"{where}: code {code} was redeemed (200) but is {record.get('s')!r}"
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.integrity", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--redis-cluster", action="store_true")
    parser.add_argument("--room", required=True, help="room id of the run (demo: r_demo)")
    parser.add_argument(
        "--acked", type=Path, action="append", default=[], help="acked log (repeatable)"
    )
    args = parser.parse_args(argv)
    client = connect(args.redis_url, args.redis_cluster)
    try:
        report = check(client, args.room, Acknowledged.read(args.acked))
    finally:
        client.close()
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
