"""Every Redis key the server uses, with its meaning, in one place.

Cluster rule (docs/ARCHITECTURE.md, docs/SCALING.md): a Lua script or MULTI touches keys
of ONE hash tag only. The tag is the part in braces: ``{room:R}`` for a room,
``{store:S}`` for a store's slots, bookings and stream, ``{camp:C}`` for a campaign,
``{cust:V}`` for a customer.
A step that spans two tags is split into an atomic step plus an idempotent follow-up.

Values are msgpack unless noted. Times are unix milliseconds unless noted.
"""

from __future__ import annotations

# --- registry (small, global, read by every worker into memory) ----------------------
STORES = "{stores}:all"
"""hash store_id -> msgpack Store record (live_server/stores/store.py)."""
STORES_VERSION = "{stores}:version"
"""int, bumped on every registry change; workers poll it (cheap GET) to reload."""
STORES_CHANNEL = "stores:changed"
"""pub/sub channel announcing a registry change (workers also poll STORES_VERSION)."""
REVOKED = "{revoked}:all"
"""hash: a revoked token id, subject (``guide:g1``, ``v_...``) or ``scope/subject`` pair ->
unix seconds of the revocation (live_server/core/revocation.py). Every node keeps a copy in
memory; a subject's tokens issued at or before that second are refused."""
REVOKED_VERSION = "{revoked}:version"
"""int, bumped with every revocation; nodes poll it (a GET every quarter second)."""
GROUPS = "{groups}:all"
"""hash group_id -> msgpack {id, store_id, secret, brand, name, callback_url?} (community chat
groups; callback_url receives the signed answer notices, see docs/QUESTIONS.md)."""


# --- rooms -----------------------------------------------------------------------------
def room(room_id: str) -> str:
    """hash: title, brand, store (the store whose studio it is; absent: a brand-wide
    room), status (scheduled|live|ended), featured (msgpack list), created_at, started_at,
    ended_at, pinned (question id), product (the product on screen, from the platform's
    product card: recorded on each booking and coupon claim)."""
    return f"{{room:{room_id}}}:meta"


def room_history(room_id: str) -> str:
    """stream of the room's broadcasts (event name + payload); its ids are the offsets a
    reconnecting viewer resumes from. Trimmed to ROOM_HISTORY_MAXLEN."""
    return f"{{room:{room_id}}}:history"


ROOM_HISTORY_MAXLEN = 1000


def room_viewers(room_id: str) -> str:
    """hash node_id -> viewers connected on that node (each node writes its own field,
    with room_viewers_seen holding its heartbeat); the room's count is the sum."""
    return f"{{room:{room_id}}}:viewers"


def room_stats(room_id: str) -> str:
    """hash of funnel counters for the room (field 'total:<name>' and '<store>:<name>')."""
    return f"{{room:{room_id}}}:stats"


def room_unique_viewers(room_id: str) -> str:
    """HyperLogLog of viewer ids seen in the room (unique viewers)."""
    return f"{{room:{room_id}}}:uv"


BRAND_LEXICONS = "{brands}:lexicons"
"""hash brand -> JSON {synonyms, products, antonyms}: the brand's vocabulary for question
merging (``PUT /api/v1/brands/{brand}/lexicon``); absent: the generic retail one only."""


# Several rooms of one brand may be live at once ("every store a studio"). A group
# question goes to the live room of the group's store, else to the brand's main room (the
# earliest-started live room with no store). Both keys share the tag {rooms}: one MULTI.
def brand_main_rooms(brand: str) -> str:
    """sorted set room_id by started ms: the brand's live rooms that have no store (its
    main rooms; the first one gets the brand's group questions)."""
    return f"{{rooms}}:live-main:{brand}"


def brand_store_rooms(brand: str) -> str:
    """hash store_id -> the live room of that store (a store's own studio)."""
    return f"{{rooms}}:live-store:{brand}"


ROOMS = "{rooms}:all"
"""sorted set room_id by created time (ops listing)."""


# --- customers (OneID) -------------------------------------------------------------------
def customer_by_external(external_key: str) -> str:
    """string -> viewer id for an external id (phone, openid, device id; hashed)."""
    return f"{{ext:{external_key}}}:viewer"


def customer(viewer_id: str) -> str:
    """hash: external id kind, created_at, rooms seen; bookings/visits/coupons counters;
    no_shows, orders, amount_cents (guides: a store's sales credited to the customer)."""
    return f"{{cust:{viewer_id}}}:profile"


def customer_rooms(viewer_id: str) -> str:
    """set of room ids the customer joined as a viewer (the rooms they watched)."""
    return f"{{cust:{viewer_id}}}:rooms"


# --- stores: slots, bookings and the store's event stream share one tag ---------------
def store_stream(store_id: str) -> str:
    """stream of the store's events (booking.created|cancelled|arrived, coupon.redeemed);
    entry fields: v (schema version), type, data (msgpack)."""
    return f"{{store:{store_id}}}:events"


def store_acked(store_id: str) -> str:
    """hash token_id -> last stream id acked by a staff connection with that token."""
    return f"{{store:{store_id}}}:acked"


# --- bookings (live_server/bookings/): one Lua call on {store:S} per booking/cancel ------
# Booking ids carry their store: "b_<store>_<10 hex>", so any lookup knows the tag.
def store_booking(store_id: str, booking_id: str) -> str:
    """hash: id, status (confirmed|cancelled|arrived), room_id, store_id, viewer_id, slot
    (ISO-8601, store offset), slot_ts (unix s), slot_end, service, service_name, contact,
    created_at, cancelled_at, arrived_at (check-in), created_stream_id. Expires
    BOOKING_RETENTION_S after the slot."""
    return f"{{store:{store_id}}}:booking:{booking_id}"


def store_slot_seats(store_id: str, day: str) -> str:
    """hash slot_ts (unix s) -> seats taken, for the store's local day YYYY-MM-DD
    (one HGETALL answers a day's ``remaining``). Expires BOOKING_RETENTION_S after the
    midnight two days on (set when a slot takes its first seat; outlives the day's bookings)."""
    return f"{{store:{store_id}}}:seats:{day}"


def store_slot_holders(store_id: str, day: str) -> str:
    """hash "<slot_ts>:<viewer_id>" -> booking id of the viewer's active booking for that
    slot (one active booking per viewer per slot)."""
    return f"{{store:{store_id}}}:holders:{day}"


def store_booking_idempotency(store_id: str, viewer_id: str, key: str) -> str:
    """hash booking_id, fingerprint (of the request), response (the first 201 body, JSON):
    a retried POST with the same Idempotency-Key returns it. TTL IDEMPOTENCY_TTL_S."""
    return f"{{store:{store_id}}}:idem:{viewer_id}:{key}"


IDEMPOTENCY_TTL_S = 24 * 3600
BOOKING_RETENTION_S = 30 * 24 * 3600


# --- a booking step's follow-ups on other tags (live_server/bookings/follow_ups.py) -------
# The step on {store:S} (book.lua's cluster form, cancel.lua, arrive.lua) records what is
# owed in store_follow_ups(S); each follow-up on {room:R}, {cust:V}, {brand:B} is counted
# once by a Lua call that also writes its tag's "applied" marker; the request (or the
# repair pass after a crash) removes the pending member once every tag has answered.
def store_follow_ups(store_id: str) -> str:
    """sorted set "<kind>|<booking id>" (kind created|cancelled|arrived) by the step's time
    (ms): follow-ups written by a booking step and not confirmed yet."""
    return f"{{store:{store_id}}}:follow-ups"


def room_follow_up_applied(room_id: str, member: str) -> str:
    """string: the room's counters of follow-up ``member`` ("<kind>|<booking>") are
    counted. TTL FOLLOW_UP_APPLIED_TTL_S."""
    return f"{{room:{room_id}}}:applied:{member}"


def customer_follow_up_applied(viewer_id: str, member: str) -> str:
    """string: the customer's counters of follow-up ``member`` are counted (TTL as above)."""
    return f"{{cust:{viewer_id}}}:applied:{member}"


def brand_follow_up_applied(brand: str, member: str) -> str:
    """string: the brand leaderboard's counters of follow-up ``member`` are counted."""
    return f"{{brand:{brand}}}:applied:{member}"


FOLLOW_UP_APPLIED_TTL_S = 8 * 24 * 3600
FOLLOW_UP_GIVE_UP_MS = 7 * 24 * 3600 * 1000
"""The repair pass drops (and logs) a pending follow-up older than this instead of applying
it: its markers may have expired, and a counter may fall short but never count twice."""
FOLLOW_UP_REPAIR_LEASE = "{follow-ups}:repair-lease"
"""string (PX = the pass interval): the node running this interval's repair pass."""
# Customer hash fields the bookings domain writes in customer(viewer) (follow-up step):
#   bookings, cancellations (counters), last_booking_at (ISO), "active:<store>" (active
#   bookings at that store; customer_booked_stores(viewer) holds the stores where it is > 0).
#   "visits" is bumped by the store check-in (store_streams). booking.created reads them.
# Room funnel fields (room_stats): "total:bookings", "<store>:bookings",
#   "total:cancellations", "<store>:cancellations" (STAT_BOOKINGS / STAT_CANCELLATIONS).


# --- store streams (live_server/store_streams/): consumer groups, dead letters, retention --
def store_dead_letter(store_id: str) -> str:
    """stream of store-stream entries a consumer group gave up on (delivered more than
    ``max_deliveries`` times): the original fields (v, type, data, ts) plus ``orig_id``,
    ``group``, ``consumer``, ``deliveries``, ``dead_at`` (ms). Same tag as the stream, so
    moving an entry here and acking it is one Lua call."""
    return f"{{store:{store_id}}}:dead"


STORE_STREAM_MAX_AGE_MS = 14 * 24 * 3600 * 1000
"""retention: entries older than this are trimmed, unless a consumer group still needs
them (pending, or not yet delivered to it). Dead letters are kept as long."""


# --- funnel counters in room_stats(room): field "total:<name>" and "<store>:<name>" ----
# Writers bump them with HINCRBY (HINCRBYFLOAT for amounts); the stats endpoint reads them.
#   booking_taps      the widget's "book a visit" button tapped (POST .../taps; stats)
#   bookings          bookings made (bookings; per store too)
#   cancellations     bookings cancelled (bookings; per store too)
#   arrivals          bookings checked in at the store (store_streams check-in; per store)
#   coupons_claimed / coupons_redeemed / redeemed_amount / coupon_discount  (coupons, above)
#   peak_viewers      "total:" only, max concurrent viewers (rooms/live)
STAT_BOOKING_TAPS = "booking_taps"
STAT_BOOKINGS = "bookings"
STAT_CANCELLATIONS = "cancellations"
STAT_ARRIVALS = "arrivals"
STAT_PEAK_VIEWERS = "peak_viewers"


def room_tappers(room_id: str) -> str:
    """HyperLogLog of viewer ids that tapped the booking button (unique tappers)."""
    return f"{{room:{room_id}}}:tappers"


# --- coupons (coupons/): every key of one campaign shares the tag {camp:C} ----------------
# Funnel counters the coupons domain bumps in room_stats(room) (read by the stats endpoint):
#   "total:coupons_claimed"       codes handed out in the room
#   "total:coupons_redeemed"      redemptions in any store (rollbacks subtract)
#   "total:redeemed_amount"       sum of order_amount of those redemptions
#   "<store>:coupons_redeemed"    redemptions in that store
#   "<store>:redeemed_amount"     sum of order_amount in that store
#   "<store>:coupon_discount"     money off granted in that store (amount/percent coupons)
STAT_COUPONS_CLAIMED = "coupons_claimed"
STAT_COUPONS_REDEEMED = "coupons_redeemed"
STAT_REDEEMED_AMOUNT = "redeemed_amount"
STAT_COUPON_DISCOUNT = "coupon_discount"
COUPON_RETENTION_MS = 30 * 24 * 3600 * 1000
"""campaign keys are kept this long after the campaign's expires_at (disputes, audits)."""


def campaign(campaign_id: str) -> str:
    """hash: room_id, room_title, title, kind, value, quantity, remaining, claimed, redeemed,
    released, per_user, store_mode (all|list|booking_store), stores (",S1,S2,"), valid_from,
    expires_at, min_spend, status (draft|open|closed|expired), created_at, dropped_at,
    sold_out_at, finished_at, finish_reason. Times unix ms."""
    return f"{{camp:{campaign_id}}}:meta"


def campaign_owners(campaign_id: str) -> str:
    """hash viewer_id -> number of codes the viewer holds (the per-viewer limit)."""
    return f"{{camp:{campaign_id}}}:owners"


def campaign_codes(campaign_id: str) -> str:
    """hash nonce -> JSON code record {v: viewer, s: claimed|redeemed|void, c: claimed_at,
    r: redeemed_at, st: store, a: order_amount, n: redemption number, by: staff,
    sa: store-stream id once coupon.redeemed is appended, x: voided_at}."""
    return f"{{camp:{campaign_id}}}:codes"


def campaign_idempotency(campaign_id: str) -> str:
    """hash "<viewer>|<Idempotency-Key>" -> nonce: a retried claim returns the same code."""
    return f"{{camp:{campaign_id}}}:idem"


def campaign_claim_rate(campaign_id: str, viewer_id: str, window: int) -> str:
    """string counter: the viewer's claim attempts on this campaign in one fixed window
    (claim.lua's flood guard; expires with the window)."""
    return f"{{camp:{campaign_id}}}:rate:{viewer_id}:{window}"


def campaign_audit(campaign_id: str) -> str:
    """stream of ops actions and state changes: action (void|rollback|expired|closed), code,
    before, store, amount, redeemed_at, by, reason, ts."""
    return f"{{camp:{campaign_id}}}:audit"


def campaign_unappended(campaign_id: str) -> str:
    """set "<nonce>:<n>" of redemptions whose coupon.redeemed store-stream entry is not
    confirmed yet (the follow-up, or the sweeper's retry, removes them)."""
    return f"{{camp:{campaign_id}}}:unappended"


def room_campaigns(room_id: str) -> str:
    """sorted set campaign_id by creation time: the room's campaigns."""
    return f"{{room:{room_id}}}:campaigns"


CAMPAIGNS_ACTIVE = "{camps}:active"
"""sorted set campaign_id by expires_at (ms): what the coupon sweeper expires, closes when
the room ends, and repairs (store-stream follow-ups); removed after expiry + 1 h."""


def store_coupon_appends(store_id: str) -> str:
    """hash "<campaign>:<nonce>:<n>" -> stream id: makes the coupon.redeemed append to the
    store stream idempotent (one entry per redemption, however often it is retried)."""
    return f"{{store:{store_id}}}:coupon-appends"


def customer_booked_stores(viewer_id: str) -> str:
    """set of store ids where the viewer holds a booking (written by bookings); read by
    coupons whose store_ids is "booking_store"."""
    return f"{{cust:{viewer_id}}}:booked-stores"


# --- questions (community groups + widget) -------------------------------------------------
# Every key of a room's questions shares the room's tag {room:R}, with the room meta hash
# (status, "pinned") and the room stats hash, so one Lua call accepts or moves a question.
# Funnel fields the questions domain bumps in room_stats(R): "total:questions" (accepted
# messages, merges included, replays not), "<store>:questions" (from that store's group),
# "total:question_cards" (distinct cards created).


def question_seq(room_id: str) -> str:
    """int: last question number reserved in the room (ids are q.<room>.<n>; each worker
    reserves numbers in blocks with INCRBY)."""
    return f"{{room:{room_id}}}:q:seq"


def question(room_id: str, seq: int) -> str:
    """hash: id, text, status (new|held|pinned|answered|dismissed|merged), lane (open|held),
    held_reason, askers, votes, groups (counts), created_ms, updated_ms, asked_ms,
    answered_ms; asks (askers who ever joined: the arrival number of the next one);
    merged_into (the card a host merged this one into), split_from (the card a host split
    this one off)."""
    return f"{{room:{room_id}}}:q:{seq}"


def question_asked(room_id: str, seq: int) -> str:
    """hash asker key -> JSON [n, asked_ms, group id, store id, text]: what each asker of
    the card asked (n: arrival order on the card), so a host's split moves askers with
    their own wording, groups and stores (split.lua, merge.lua). Askers of cards older
    than this hash have no entry."""
    return f"{{room:{room_id}}}:q:{seq}:asked"


def question_split_mark(room_id: str) -> str:
    """int: the length of question_index(R) right after its latest split-off card was
    appended. ingest.lua answers "stale" to a merge from a worker whose index copy is
    shorter, so no worker merges next to a split card it has not seen yet."""
    return f"{{room:{room_id}}}:q:split-mark"


def question_askers(room_id: str, seq: int) -> str:
    """set of asker keys ("g:<group>:<author_id>" or "v:<viewer_id>"): askers counted once."""
    return f"{{room:{room_id}}}:q:{seq}:askers"


def question_groups(room_id: str, seq: int) -> str:
    """set of group ids the question came from (answer notices go to each)."""
    return f"{{room:{room_id}}}:q:{seq}:groups"


def question_stores(room_id: str, seq: int) -> str:
    """set of store ids of those groups."""
    return f"{{room:{room_id}}}:q:{seq}:stores"


def question_voters(room_id: str, seq: int) -> str:
    """set of viewer ids who upvoted (one vote per viewer)."""
    return f"{{room:{room_id}}}:q:{seq}:voters"


def question_vote_addresses(room_id: str, seq: int) -> str:
    """hash client address -> votes for this question (caps stuffing with fresh viewer ids)."""
    return f"{{room:{room_id}}}:q:{seq}:vote-ip"


def question_index(room_id: str) -> str:
    """list of msgpack [question id, lane, text], one per card (created by ingest.lua, or
    split off by split.lua), append-only: the dedup corpus each worker mirrors in memory;
    its length is the optimistic version a new card is created against (a concurrent
    create makes the other retry its match). A merged card keeps its entry (ingest.lua
    sends its duplicates on to the card it was merged into)."""
    return f"{{room:{room_id}}}:q:index"


def question_timeline(room_id: str) -> str:
    """sorted set question id by created_ms."""
    return f"{{room:{room_id}}}:q:timeline"


def question_replay(room_id: str, group_id: str, message_id: str) -> str:
    """string -> question id: a group message_id already accepted (TTL 15 min, > the
    5 min signature window, so a replay can never be accepted twice)."""
    return f"{{room:{room_id}}}:q:msg:{group_id}:{message_id}"


def question_rate(room_id: str, kind: str, who: str) -> str:
    """int with PX window: fixed-window counters; kind author|group|vote."""
    return f"{{room:{room_id}}}:q:rl:{kind}:{who}"


def question_outbox(room_id: str) -> str:
    """stream of answer notices to deliver (one entry per originating group): v, type
    (question.answered), question_id, room_id, group_id, text, askers, groups,
    answered_ms. Consumer group QUESTION_OUTBOX_GROUP; pending entries are retried with
    exponential backoff (their delivery count is the attempt number)."""
    return f"{{room:{room_id}}}:q:outbox"


def question_outbox_dead(room_id: str) -> str:
    """stream of answer notices given up after N attempts (the outbox fields plus
    attempts, last_error, dead_ms)."""
    return f"{{room:{room_id}}}:q:outbox-dead"


QUESTION_OUTBOX_GROUP = "webhooks"
QUESTION_OUTBOX_ROOMS = "{outbox}:rooms"
"""set of room ids whose question outbox has entries (the delivery workers' work list);
added as an idempotent follow-up after an answer."""


# --- live platforms (live_server/platforms/): the platform rooms a room companions --------
PLATFORM_ROOMS = "{platforms}:rooms"
"""hash "<platform>:<platform room id>" -> msgpack {room_id, platform, platform_room_id,
app_id, secret, bound_at}: which room a push from the platform belongs to, and its secret."""


def room_platforms(room_id: str) -> str:
    """hash platform -> msgpack binding (same record as PLATFORM_ROOMS): the room's side,
    so unbinding or rebinding finds the old platform room id."""
    return f"{{room:{room_id}}}:platforms"


def platform_seen(room_id: str, bucket: int) -> str:
    """set of "<platform>:<message id>" accepted in one PLATFORM_SEEN_BUCKET_S bucket; the
    current and the two before are checked (a repeated message is counted once within
    at least 2 buckets, > the 5 min signature window). TTL 3 buckets."""
    return f"{{room:{room_id}}}:plat:seen:{bucket}"


PLATFORM_SEEN_BUCKET_S = 300


def counter_gate(room_id: str, event: str, key: str) -> tuple[str, str]:
    """(gate string with PX, last value sent) of a room counter sent at most once per gate
    period across workers (realtime.server: ``booking.count``)."""
    base = f"{{room:{room_id}}}:ctr:{event}:{key}"
    return f"{base}:gate", f"{base}:last"


def platform_engagement_gate(room_id: str) -> str:
    """string with PX 1000: set by the worker that sends the room's room.engagement this
    second (at most one a second across workers)."""
    return f"{{room:{room_id}}}:plat:gate"


# Engagement counters the platforms domain bumps in room_stats(room), field "total:<name>":
#   live_comments    platform comments that read as questions (sent to the question pipeline)
#   live_chatter     platform comments that did not ("666", "来了"): counted, not shown
#   likes, gifts, gift_value (platform currency units), fansclub_joins, viewer_joins
#   platform_viewers (the platform's last reported count, set), platform_viewers_peak
STAT_LIVE_COMMENTS = "live_comments"
STAT_LIVE_CHATTER = "live_chatter"
STAT_LIKES = "likes"
STAT_GIFTS = "gifts"
STAT_GIFT_VALUE = "gift_value"
STAT_FANSCLUB_JOINS = "fansclub_joins"
STAT_VIEWER_JOINS = "viewer_joins"
STAT_PLATFORM_VIEWERS = "platform_viewers"
STAT_PLATFORM_VIEWERS_PEAK = "platform_viewers_peak"
ENGAGEMENT_COUNTERS = (
    STAT_LIVE_COMMENTS, STAT_LIVE_CHATTER, STAT_LIKES, STAT_GIFTS, STAT_GIFT_VALUE,
    STAT_FANSCLUB_JOINS, STAT_VIEWER_JOINS, STAT_PLATFORM_VIEWERS, STAT_PLATFORM_VIEWERS_PEAK,
)  # fmt: skip


# --- guides and tasks (live_server/guides/): every key of a store's guides, tasks, timers
# and orders carries the store's tag {store:S}, with its bookings and stream, so a booking
# and its task are one Lua call, and so is every task transition with its stream entry.
# Task ids carry their booking's id: "t_<booking id>" (one task per booking, by id).
def store_guides(store_id: str) -> str:
    """hash guide_id -> JSON {id, name, phone, active}: the store's roster (PUT .../guides)."""
    return f"{{store:{store_id}}}:guides"


def store_guide_load(store_id: str) -> str:
    """sorted set guide_id by open tasks (assigned, accepted, contacted): ACTIVE guides
    only; the assignment takes the least loaded (ties in turn, GUIDE_META 'rr')."""
    return f"{{store:{store_id}}}:guides:load"


def store_guide_meta(store_id: str) -> str:
    """hash: 'open:<guide>' open tasks of every guide (active or not; the load set mirrors
    the active ones), 'rr' the guide who got the last tie (round-robin cursor)."""
    return f"{{store:{store_id}}}:guides:meta"


def store_guide_of(store_id: str) -> str:
    """hash viewer_id -> guide_id: who served the customer last at this store (set on
    arrival; 'owner:<group>' fields: the guide who owns a community group)."""
    return f"{{store:{store_id}}}:guide-of"


def store_task(store_id: str, task_id: str) -> str:
    """hash: id, booking_id, store_id, room_id, viewer_id, guide_id, status
    (assigned|accepted|contacted|arrived|no_show|cancelled), priority, due_at (ISO, the
    slot), slot_ts, slot_end_ts (unix s), created_at, updated_at, accept_by (ms),
    reassigned (count), customer (JSON, the context at booking time), history (JSON list).
    Expires with its booking."""
    return f"{{store:{store_id}}}:task:{task_id}"


def store_tasks(store_id: str) -> str:
    """sorted set task_id by slot_ts (unix s): the store's tasks by visit time."""
    return f"{{store:{store_id}}}:tasks"


def store_task_timers(store_id: str) -> str:
    """sorted set "<kind>|<task id>" by due time (ms), kind accept|remind|noshow: fired
    once each (fire.lua removes the member in the same step as it acts)."""
    return f"{{store:{store_id}}}:task-timers"


def store_order(store_id: str, order_id: str) -> str:
    """hash: the recorded sale (order_id, amount_cents, booking_id, guide_id, room_id,
    viewer_id, coupon_code, store_credit_cents, live_credit_cents, recorded_at, response):
    a repeated order_id answers the first result."""
    return f"{{store:{store_id}}}:order:{order_id}"


def store_webhook(store_id: str) -> str:
    """hash url, secret: where the store's notices (new task, reminder, reassignment) go
    (a WeCom or SMS gateway); delivered by the consumer group STORE_NOTICE_GROUP."""
    return f"{{store:{store_id}}}:webhook"


STORE_NOTICE_GROUP = "notices"
STORES_WITH_WEBHOOK = "{guides}:webhook-stores"
"""set of store ids with a webhook (the notice workers' work list)."""


def brand_leaderboard(brand: str, day: str) -> str:
    """hash of the brand's guide and store counters for one local day: fields
    'g|<store>|<guide>|<metric>' and 's|<store>|<metric>', metric tasks|accepted|arrivals|
    no_shows|orders|amount_cents|credit_cents. Expires after LEADERBOARD_RETENTION_S."""
    return f"{{brand:{brand}}}:lb:{day}"


LEADERBOARD_RETENTION_S = 400 * 24 * 3600


def room_booked_slots(room_id: str) -> str:
    """sorted set "<store>|<booking>" by slot start (unix s): the room's bookings not
    cancelled; arrival_rate counts only those whose slot has passed."""
    return f"{{room:{room_id}}}:booked-slots"


def room_arrived_slots(room_id: str) -> str:
    """sorted set "<store>|<booking>" by slot start (unix s): the room's arrived bookings."""
    return f"{{room:{room_id}}}:arrived-slots"


# --- community groups as a channel (live_server/groups/): every key of one group carries
# the group's tag {group:G}: a member event, its gift decision, the group's outbox and the
# delivery state of every notice to it are one Lua call each. A store's posts carry the
# store's tag; fanning a post out to its groups is an idempotent follow-up per group.
def group_members(group_id: str) -> str:
    """hash member_id -> JSON {member_id, viewer_id, name, status (in|out), joined_at,
    left_at} (times ms): the group's members as its bot reported them."""
    return f"{{group:{group_id}}}:members"


def group_seen(group_id: str) -> str:
    """hash event id -> "1": member events already applied (a replayed id changes nothing)."""
    return f"{{group:{group_id}}}:seen"


def group_stats(group_id: str) -> str:
    """hash of the group's counters: members (now), members_joined, members_left,
    gifts_issued, questions, bookings, visits (by members with a platform identity)."""
    return f"{{group:{group_id}}}:stats"


def group_gift(group_id: str) -> str:
    """hash: campaign_id (the coupons campaign the join gift's codes belong to), title,
    value, valid_days, store_ids (JSON list): the group's join gift (PUT /groups/{group})."""
    return f"{{group:{group_id}}}:gift"


def group_gifted(group_id: str) -> str:
    """hash holder -> "pending" | code: who got the join gift, ever (holder: the member's
    viewer id when it has a platform identity, else "m:<member_id>"). HSETNX decides: one
    code per person, concurrent duplicate joins and rejoins included."""
    return f"{{group:{group_id}}}:gifted"


def group_gifts_pending(group_id: str) -> str:
    """hash holder -> member_id: gifts decided but whose notice is not queued yet (the
    follow-up, or the outbox pass's repair, removes them)."""
    return f"{{group:{group_id}}}:gifts-pending"


def group_outbox(group_id: str) -> str:
    """stream of notices to the group's callback_url: key (notice key), type, body (JSON).
    Consumer group GROUP_OUTBOX_GROUP; failures stay pending and are retried after a
    backoff; after GroupConfig.max_attempts they move to group_outbox_dead."""
    return f"{{group:{group_id}}}:outbox"


def group_outbox_dead(group_id: str) -> str:
    """stream of notices given up (the outbox fields plus entry_id, attempts, last_error)."""
    return f"{{group:{group_id}}}:outbox-dead"


def group_notices(group_id: str) -> str:
    """hash notice key ("gift:<holder>", "post:<store>:<post>", "preview:<room>",
    "followup:<viewer>:<room>", "offer:<campaign>") -> JSON {entry_id, type, state
    (queued|retrying|delivered|dead), attempts, error, at}: each notice queued once, and
    its delivery state."""
    return f"{{group:{group_id}}}:notices"


GROUP_OUTBOX_GROUP = "deliveries"
GROUP_OUTBOXES = "{groups}:outboxes"
"""set of group ids whose outbox has work (the delivery workers' list)."""


def customer_groups(viewer_id: str) -> str:
    """set of group ids the customer is a member of (OneID: written as a follow-up of the
    group's member events); coupons read it for group-only offers."""
    return f"{{cust:{viewer_id}}}:groups"


def store_posts(store_id: str) -> str:
    """sorted set post_id by created ms: the store's posts to its groups."""
    return f"{{store:{store_id}}}:posts"


def store_post(store_id: str, post_id: str) -> str:
    """hash: id, store_id, kind, text, send_at (ms), created_at (ms), by, groups (JSON list
    of the groups it goes to), status (scheduled|sent)."""
    return f"{{store:{store_id}}}:post:{post_id}"


def brand_automations(brand: str) -> str:
    """string: JSON list of the brand's follow-up automations (PUT .../automations)."""
    return f"{{brand:{brand}}}:automations"


GROUP_TIMERS = "{gtimers}:due"
"""sorted set of timer members by due ms: "post|<store>|<post>" (a scheduled store post),
"preview|<room>" (a scheduled broadcast's preview), "followup|<group>|<member>|<viewer>"
(a first visit's follow-up). fire.lua moves a due member to GROUP_TIMERS_FIRING in the
same step (once across nodes); the action's follow-ups are idempotent (notice keys), and
a member left there by a crash is fired again after GROUP_TIMER_LEASE_MS."""
GROUP_TIMERS_FIRING = "{gtimers}:firing"
"""hash timer member -> ms it was taken (removed once its action is done)."""
GROUP_TIMER_LEASE_MS = 60_000
GROUP_FIRST_VISITS = "{gtimers}:first-visits"
"""hash viewer id -> ms of the first check-in seen (the first_visit trigger fires once)."""


def brand_scheduled_rooms(brand: str) -> str:
    """sorted set room_id by scheduled_at (ms): the brand's scheduled broadcasts (the next
    one is what a follow-up names). Same tag as GROUP_TIMERS."""
    return f"{{gtimers}}:scheduled:{brand}"
