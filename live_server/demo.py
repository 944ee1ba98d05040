"""``--demo``: seed a realistic bakery chain, idempotently, and write ``demo.json``.

24 stores of "Maixiang Bakery" across Shanghai, Hangzhou and Suzhou, five community
groups, one live room with featured products and services.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import msgpack

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.tokens import Role, TokenSigner
from live_server.guides.store import GuideStore
from live_server.platforms.models import Binding, Platform
from live_server.platforms.store import PlatformStore
from live_server.questions.models import BrandLexicon
from live_server.rooms.models import CreateRoom, FeaturedItem, RoomStatus
from live_server.rooms.service import RoomService
from live_server.settings import Settings
from live_server.stores.models import OpeningWindow, Store
from live_server.stores.store import StoreRegistry

BRAND = "maixiang"
DEMO_ROOM = "r_demo"

# (id, name, city, district address, lat, lng)
_STORES = [
    ("sh-jingan", "麦香坊 静安寺店", "上海", "静安区南京西路1618号", 31.2235, 121.4456),
    ("sh-xujiahui", "麦香坊 徐家汇店", "上海", "徐汇区虹桥路1号", 31.1951, 121.4375),
    ("sh-lujiazui", "麦香坊 陆家嘴店", "上海", "浦东新区陆家嘴环路1000号", 31.2397, 121.4998),
    ("sh-wujiaochang", "麦香坊 五角场店", "上海", "杨浦区邯郸路600号", 31.2991, 121.5140),
    ("sh-zhongshanpark", "麦香坊 中山公园店", "上海", "长宁区长宁路1018号", 31.2196, 121.4160),
    ("sh-xintiandi", "麦香坊 新天地店", "上海", "黄浦区马当路245号", 31.2190, 121.4750),
    ("sh-hongqiao", "麦香坊 虹桥天地店", "上海", "闵行区申长路688号", 31.1950, 121.3190),
    ("sh-qibao", "麦香坊 七宝店", "上海", "闵行区漕宝路3366号", 31.1580, 121.3500),
    ("sh-zhangjiang", "麦香坊 张江店", "上海", "浦东新区祖冲之路1000号", 31.2040, 121.5900),
    ("sh-songjiang", "麦香坊 松江万达店", "上海", "松江区广富林路658号", 31.0330, 121.2270),
    ("hz-wulin", "麦香坊 武林广场店", "杭州", "拱墅区武林广场21号", 30.2741, 120.1644),
    ("hz-xihu", "麦香坊 湖滨银泰店", "杭州", "上城区延安路258号", 30.2577, 120.1620),
    ("hz-binjiang", "麦香坊 滨江星光店", "杭州", "滨江区江南大道228号", 30.2087, 120.2110),
    ("hz-xixi", "麦香坊 西溪印象城店", "杭州", "余杭区五常大道1号", 30.2780, 120.0520),
    ("hz-qianjiang", "麦香坊 钱江新城店", "杭州", "上城区富春路701号", 30.2460, 120.2100),
    ("hz-xiasha", "麦香坊 下沙店", "杭州", "钱塘区学源街118号", 30.3120, 120.3500),
    ("hz-gongshu", "麦香坊 运河上街店", "杭州", "拱墅区丽水路58号", 30.3160, 120.1400),
    ("sz-guanqian", "麦香坊 观前街店", "苏州", "姑苏区观前街188号", 31.3100, 120.6220),
    ("sz-jinjihu", "麦香坊 金鸡湖店", "苏州", "工业园区苏州大道东268号", 31.3170, 120.6830),
    ("sz-shishan", "麦香坊 狮山店", "苏州", "虎丘区狮山路88号", 31.2970, 120.5570),
    ("sz-dushu", "麦香坊 独墅湖店", "苏州", "工业园区仁爱路150号", 31.2630, 120.7340),
    ("sz-wuzhong", "麦香坊 吴中万达店", "苏州", "吴中区宝带西路1166号", 31.2740, 120.6120),
    ("sz-xiangcheng", "麦香坊 相城店", "苏州", "相城区嘉元路959号", 31.3750, 120.6400),
    ("sz-pingjiang", "麦香坊 平江路店", "苏州", "姑苏区平江路99号", 31.3160, 120.6300),
]

_GROUPS = [
    ("g-jingan", "sh-jingan", "静安寺店 会员群"),
    ("g-lujiazui", "sh-lujiazui", "陆家嘴店 烘焙爱好者"),
    ("g-wulin", "hz-wulin", "武林广场店 福利群"),
    ("g-binjiang", "hz-binjiang", "滨江店 早餐群"),
    ("g-guanqian", "sz-guanqian", "观前街店 会员群"),
]

# Store guides (导购): two or three per store, by store index (guides/, docs/FRONTEND.md).
_GUIDE_NAMES = ["李娜", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊"]

SERVICES = ["cake-consult", "custom-cake-pickup", "baking-class", "bread-tasting"]

FEATURED = [
    FeaturedItem(id="cake-consult", name="定制蛋糕咨询 Custom cake consultation", kind="service"),
    FeaturedItem(
        id="baking-class", name="周末烘焙课 Weekend baking class", kind="service", price=99
    ),
    FeaturedItem(id="bread-tasting", name="新品试吃 New bread tasting", kind="service"),
    FeaturedItem(
        id="mooncake-box", name="流心月饼礼盒 Lava mooncake box", kind="product", price=168
    ),
    FeaturedItem(id="sourdough", name="天然酵种欧包 Sourdough loaf", kind="product", price=32),
]


def demo_stores() -> list[Store]:
    weekday = [OpeningWindow(open="08:00", close="21:00")]
    weekend = [OpeningWindow(open="09:00", close="22:00")]
    stores = []
    for i, (sid, name, city, address, lat, lng) in enumerate(_STORES):
        hours = {d: weekday for d in ("mon", "tue", "wed", "thu", "fri")}
        hours |= {"sat": weekend, "sun": weekend}
        if i % 7 == 3:  # a few stores close on Mondays
            del hours["mon"]
        stores.append(
            Store(
                id=sid,
                name=name,
                city=city,
                address=f"{city}市{address}",
                lat=lat,
                lng=lng,
                timezone="Asia/Shanghai",
                hours=hours,
                services=SERVICES if i % 3 else SERVICES[:3],
                slot_minutes=30,
                capacity=4 + (i % 3) * 2,
                brand=BRAND,
                phone=f"400-820-{1000 + i:04d}",
            )
        )
    return stores


def group_secret(settings: Settings, group_id: str) -> str:
    """Stable per-group webhook secret derived from the deployment secret."""
    return hmac.new(
        settings.secret.encode(), f"group-webhook:{group_id}".encode(), hashlib.sha256
    ).hexdigest()[:40]


async def seed_demo(settings: Settings, redis: RedisClient) -> dict[str, Any]:
    """Create (or refresh) the demo brand; returns what ``demo.json`` holds."""
    signer = TokenSigner.from_settings(settings)
    registry = StoreRegistry(redis)
    stores = demo_stores()
    await registry.upsert(stores)

    groups = []
    for gid, store_id, name in _GROUPS:
        secret = group_secret(settings, gid)
        record = {"id": gid, "store_id": store_id, "name": name, "brand": BRAND, "secret": secret}
        await redis.hset(keys.GROUPS, gid, msgpack.packb(record))
        groups.append({"id": gid, "store_id": store_id, "name": name, "secret": secret})
    # The bakery's own words for merging questions (what a brand uploads with
    # PUT /api/v1/brands/{brand}/lexicon), on top of the generic retail vocabulary.
    lexicon = resources.files("live_server.questions").joinpath("lexicons/bakery-demo.json")
    document = BrandLexicon.model_validate_json(lexicon.read_bytes()).model_dump_json()
    await redis.hset(keys.BRAND_LEXICONS, BRAND, document)

    rooms = RoomService(redis, signer, settings.identity_secret, settings.token_ttl_s)
    if not await redis.exists(keys.room(DEMO_ROOM)):
        await rooms.create(
            CreateRoom(
                title="麦香坊 周末烘焙直播 Weekend baking live", brand=BRAND, featured=FEATURED
            ),
            room_id=DEMO_ROOM,
        )
    if await rooms.status(DEMO_ROOM) is RoomStatus.SCHEDULED:
        await rooms.move(DEMO_ROOM, RoomStatus.LIVE)
    platforms = await _bind_demo_platforms(settings, redis)

    base = settings.base_url
    ttl = 30 * 24 * 3600
    host_token = signer.issue(Role.HOST, DEMO_ROOM, "host", ttl)
    guides = {s.id: await _seed_guides(redis, signer, s.id, i, ttl, base)
              for i, s in enumerate(stores)}  # fmt: skip
    staff = [
        {
            "id": s.id,
            "name": s.name,
            "lat": s.lat,
            "lng": s.lng,
            "staff_token": signer.issue(Role.STAFF, s.id, "staff", ttl),
            "guides": guides[s.id],
        }
        for s in stores
    ]
    ops_token = signer.issue(Role.OPS, "*", "ops", ttl)
    return {
        "base_url": base,
        "ops_token": ops_token,
        "room_id": DEMO_ROOM,
        "host_token": host_token,
        "stores": staff,
        "groups": groups,
        # Tokens ride in the URL fragment: browsers never send it to the server.
        "pages": {
            "room": f"{base}/demo/room/{DEMO_ROOM}",
            "host": f"{base}/host/{DEMO_ROOM}#token={host_token}",
            "store": f"{base}/store/{stores[0].id}#token={staff[0]['staff_token']}",
            "guide": guides[stores[0].id][0]["page"],
            "leaderboard": f"{base}/leaderboard/{BRAND}#token={staff[0]['staff_token']}",
            # GET /api/v1/brands/{brand}/groups/stats: ops, or staff of the brand's stores.
            "report": f"{base}/report/{BRAND}#token={ops_token}",
        },
        "stats_page": f"{base}/stats/{DEMO_ROOM}#token={host_token}",
        # The simulated Douyin room (and the brand's product-card bridge) of the demo room:
        # `live-server platform replay --demo` signs its pushes with these.
        "platforms": platforms,
    }


DEMO_DOUYIN_ROOM = "7300000000000000001"


async def _bind_demo_platforms(settings: Settings, redis: RedisClient) -> dict[str, str]:
    """Bind the demo room to a simulated Douyin room and a generic bridge (product cards)."""
    store = PlatformStore(redis)
    douyin_secret = group_secret(settings, "platform:douyin")
    bridge_secret = group_secret(settings, "platform:generic")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for platform, prid, secret in (
        (Platform.DOUYIN, DEMO_DOUYIN_ROOM, douyin_secret),
        (Platform.GENERIC, "bakery-shop-cards", bridge_secret),
    ):
        previous = await store.room_binding(DEMO_ROOM, platform.value)
        binding = Binding(room_id=DEMO_ROOM, platform=platform, platform_room_id=prid,
                          app_id="tt-demo-bakery", secret=secret, bound_at=now)  # fmt: skip
        await store.bind(binding, previous)
    return {"douyin_room_id": DEMO_DOUYIN_ROOM, "douyin_secret": douyin_secret,
            "bridge_secret": bridge_secret}  # fmt: skip


async def _seed_guides(
    redis: RedisClient, signer: TokenSigner, store_id: str, index: int, ttl: int, base: str
) -> list[dict[str, str]]:
    """The store's guides (PUT roster; two or three) with their tokens and phone pages."""
    count = 2 + index % 2
    roster = [
        {"id": f"g{n + 1}", "name": _GUIDE_NAMES[(index * 3 + n) % len(_GUIDE_NAMES)],
         "phone": None, "active": True}
        for n in range(count)
    ]  # fmt: skip
    await GuideStore(redis).set_roster(store_id, roster)
    guides: list[dict[str, str]] = []
    for guide in roster:
        token = signer.issue(Role.STAFF, store_id, f"guide:{guide['id']}", ttl)
        page = f"{base}/guide/{store_id}#token={token}"
        guides.append({"id": str(guide["id"]), "name": str(guide["name"]), "token": token,
                       "page": page})  # fmt: skip
    return guides


def write_demo_file(data_dir: Path, demo: dict[str, Any]) -> Path:
    path = Path(data_dir) / "demo.json"
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(demo, fh, ensure_ascii=False, indent=2)
    tmp.replace(path)
    return path
