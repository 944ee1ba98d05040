"""Near-duplicate detection for live-room questions, Chinese and English. Pure Python.

A question becomes a :class:`Fingerprint`:

* **normalised text**: NFKC (full width -> half width), lower case, a small
  traditional -> simplified table, punctuation and emoji dropped;
* **concepts**: retail phrases mapped to one token whatever the wording or language
  ("多少钱", "价格", "how much", "price" -> ``#price``; "月饼", "mooncake" -> ``@mooncake``);
* **tokens**: what is left after concepts and filler words are removed: character bigrams
  for Chinese runs, stemmed words for English;
* **guards**: attributes two questions must share to be the same question even when
  their wording is nearly identical: numbers (6寸 vs 8寸), places (静安店 vs 陆家嘴店),
  products and flavours, days and times, polar pairs (open vs close, pickup vs delivery)
  and negation ("含坚果吗" vs "不含坚果吗").

Two questions are duplicates when their guards agree and their weighted Jaccard
similarity (or containment, for a short question inside a longer one) passes the
thresholds in :data:`THRESHOLDS`, tuned on the training split of
``bench/questions/pairs.jsonl``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# --- normalisation -----------------------------------------------------------------------

_T2S = str.maketrans(
    "問嗎麼價錢門買賣幾點時間還會這個們預約優號麵餅費貨車開關營業週禮課嚐試現場團購訂單達麥員類過"
    "無熱凍鮮長為對說請讓給東發貴樣種裡裏寫兒們歲斤張條隻盒雙層蓋盤漢莊廳換退貨節誕氣讀"
    "蘋錯辦飲麼捲糰麪鹹濃淡蘭莓檸檬榴蓮芒果紅綠藍黃燒烤爐鍋寶會員積數劃難應該帶頭嗎",
    "问吗么价钱门买卖几点时间还会这个们预约优号面饼费货车开关营业周礼课尝试现场团购订单达麦员类过"
    "无热冻鲜长为对说请让给东发贵样种里里写儿们岁斤张条只盒双层盖盘汉庄厅换退货节诞气读"
    "苹错办饮么卷团面咸浓淡兰莓柠檬榴莲芒果红绿蓝黄烧烤炉锅宝会员积数划难应该带头吗",
)
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_PUNCT = re.compile(rf"[^0-9a-z{_CJK}\s'.]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Full/half width, case, traditional->simplified (small table), punctuation -> space."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_T2S)
    text = _PUNCT.sub(" ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)  # keep 6.5, drop sentence dots
    return _SPACES.sub(" ", text).strip()


# --- concepts (longest phrase first); category decides how a concept guards ---------------

# category: "topic" (weighted token), "product", "place", "time", "polar" (token + guard)
_CONCEPTS: dict[str, tuple[str, list[str]]] = {
    # topics
    "price": ("topic", ["多少钱一个", "多少钱一盒", "多少钱一份", "一个多少钱", "单个价格",
                        "多少钱", "什么价格", "价格", "价钱", "几块钱", "啥价", "怎么卖", "售价",
                        "卖多少", "多少米", "how much", "price", "pricing", "cost"]),
    "count": ("topic", ["几个", "多少个", "how many"]),
    "coupon": ("topic", ["优惠券", "优惠卷", "折扣券", "代金券", "抵用券", "券", "优惠码", "折扣",
                         "优惠", "coupon", "voucher", "discount code", "promo code", "discount",
                         "promo", "deal"]),
    "book": ("topic", ["book a visit", "预约", "预订", "预定", "订位", "占位", "book", "booking",
                       "reserve", "reservation", "appointment", "sign up", "signup", "register",
                       "报名"]),
    "hours": ("topic", ["营业时间", "几点", "什么时候", "啥时候", "哪天", "opening hours",
                        "business hours", "what time", "when", "hours", "time"]),
    "shelf": ("topic", ["保质期", "能放几天", "放几天", "能放多久", "放多久", "保存多久",
                        "存放多久", "保存几天", "shelf life", "how long", "keep", "last",
                        "stay fresh"]),
    "storage": ("topic", ["冷藏", "冰箱", "冷冻", "保存", "储存", "fridge", "refrigerate",
                          "refrigerated", "freeze", "freezer", "store it", "storage"]),
    "allergy": ("topic", ["过敏", "麸质", "allergy", "allergic", "allergen", "gluten"]),
    "nut": ("topic", ["坚果", "花生", "nut", "nuts", "peanut", "peanuts"]),
    "sugar_free": ("topic", ["无糖", "零糖", "0糖", "不加糖", "sugar free", "sugar-free",
                             "no sugar", "without sugar", "zero sugar"]),
    "sugar": ("topic", ["低糖", "少糖", "甜不甜", "甜吗", "太甜", "糖", "sweet", "sugar",
                        "less sugar"]),
    "ingredient": ("topic", ["配料", "成分", "原料", "用料", "什么做的", "ingredient",
                             "ingredients", "made with", "made of", "made from"]),
    "member": ("topic", ["会员", "member", "membership"]),
    "points": ("topic", ["积分", "points", "loyalty"]),
    "stock": ("topic", ["有货", "还有货", "库存", "卖完", "售罄", "没货", "断货", "补货", "还有吗",
                        "in stock", "sold out", "out of stock", "restock", "stock"]),
    "size": ("topic", ["尺寸", "几寸", "多大", "大小", "size", "how big", "inch", "inches"]),
    "refund": ("polar", ["退款", "退货", "退钱", "退", "refund", "return", "money back"]),
    "exchange": ("polar", ["换货", "更换", "换", "exchange", "swap"]),
    "invoice": ("topic", ["发票", "开票", "收据", "invoice", "receipt", "fapiao"]),
    "parking": ("topic", ["停车", "车位", "parking", "park"]),
    "where": ("topic", ["地址", "在哪里", "在哪儿", "在哪", "哪里", "怎么走", "位置", "where",
                        "address", "location", "located"]),
    "kids": ("polar", ["小朋友", "孩子", "小孩", "儿童", "宝宝", "kid", "kids", "child",
                       "children"]),
    "adult": ("polar", ["大人", "成人", "成年人", "adult", "grown-up"]),
    "elderly": ("polar", ["老人", "老年人", "elderly", "senior"]),
    "pet": ("polar", ["宠物", "狗", "猫", "dog", "cat", "pet"]),
    "age": ("topic", ["几岁", "年龄", "多大年纪", "age", "years old", "how old"]),
    "gift": ("topic", ["送人", "礼物", "送礼", "gift", "present"]),
    "packaging": ("topic", ["包装", "盒子", "袋子", "packaging", "package", "packed", "bag"]),
    "custom": ("topic", ["定制", "订做", "定做", "写字", "写名字", "custom", "customise",
                         "customize", "personalised", "personalized", "write a name", "name on"]),
    "candle": ("topic", ["蜡烛", "candle", "candles"]),
    "heat": ("topic", ["加热", "微波炉", "烤箱", "热一下", "复烤", "reheat", "microwave", "oven",
                       "heat", "warm up"]),
    "stack": ("topic", ["叠加", "同时使用", "一起用", "一起使用", "叠用", "stack", "combine",
                        "together", "at the same time"]),
    "limit": ("topic", ["限购", "每人限", "每人", "每个人", "一个人", "一人", "限领", "限几",
                        "领几张", "limit", "per person", "how many can"]),
    "expire": ("topic", ["过期", "有效期", "到期", "失效", "有效", "expire", "expires", "expiry",
                         "valid until", "valid"]),
    "redeem": ("topic", ["核销", "使用", "用", "redeem", "redeemed", "use", "used", "using",
                         "apply"]),
    "class": ("topic", ["烘焙课", "课程", "课", "上课", "class", "course", "workshop", "lesson"]),
    "tasting": ("topic", ["试吃", "品尝", "tasting", "taste", "sample", "samples", "try"]),
    "vegan": ("topic", ["素食", "纯素", "vegan", "vegetarian"]),
    "halal": ("topic", ["清真", "halal"]),
    "calorie": ("topic", ["热量", "卡路里", "大卡", "calorie", "calories", "kcal"]),
    "pay": ("topic", ["付款", "支付", "微信支付", "支付宝", "刷卡", "pay", "payment", "alipay",
                      "wechat pay", "card"]),
    "freshness": ("topic", ["新鲜", "现烤", "当天做", "当天", "fresh", "freshly baked",
                            "baked today", "same day"]),
    "flavour": ("topic", ["口味", "味道", "好吃", "flavour", "flavor", "flavours", "flavors",
                          "taste like", "tasty", "good"]),
    "recommend": ("topic", ["推荐", "哪款好", "哪个好", "recommend", "recommendation", "suggest",
                            "best"]),
    "wholesale": ("topic", ["批发", "团购", "企业订购", "大量", "wholesale", "bulk", "group buy",
                            "corporate order"]),
    "link": ("topic", ["链接", "小黄车", "上车", "link", "cart"]),
    # polar pairs: a question about one side is never a duplicate of the other side
    "open": ("polar", ["几点开门", "开门", "几点开", "开业", "营业吗", "open", "opens", "opening"]),
    "close": ("polar", ["几点打烊", "几点关门", "关门", "打烊", "几点关", "营业到几点", "开到几点",
                        "close", "closes", "closing"]),
    "pickup": ("polar", ["pick it up", "pick them up", "自提", "到店取", "到店自取", "自取",
                         "门店取", "pick up", "pickup", "collect", "collection"]),
    "delivery": ("polar", ["配送", "送货", "送到家", "外卖", "快递", "送上门", "邮寄", "同城送",
                           "deliver", "delivery", "ship", "shipping", "courier"]),
    "online": ("polar", ["线上", "网上", "小程序", "online", "app", "in the app"]),
    "instore": ("topic", ["线下", "到店", "门店使用", "在门店", "门店用", "店里用", "在店里",
                          "in store", "in-store", "at the store", "offline"]),
    "cancel": ("polar", ["取消", "cancel", "cancellation"]),
    "change": ("polar", ["改时间", "改约", "改期", "修改", "reschedule", "change the time",
                         "change"]),
    "hot": ("polar", ["热的", "温热", "hot", "warm"]),
    "cold": ("polar", ["冰的", "冷的", "cold", "iced", "chilled"]),
    "big": ("polar", ["大份", "大号", "大的", "big", "large"]),
    "small": ("polar", ["小份", "小号", "小的", "small", "mini"]),
    # products and flavours (guards: equal sets)
    "mooncake": ("product", ["流心月饼", "月饼", "mooncake", "mooncakes", "moon cake",
                             "moon cakes"]),
    "giftbox": ("product", ["礼盒", "gift box", "giftbox", "hamper"]),
    "cheesecake": ("product", ["芝士蛋糕", "乳酪蛋糕", "cheesecake", "cheese cake"]),
    "birthday_cake": ("product", ["生日蛋糕", "birthday cake"]),
    "cake": ("product", ["蛋糕", "cake", "cakes"]),
    "sourdough": ("product", ["sourdough loaf", "sourdough bread", "天然酵种欧包", "酵种面包",
                              "天然酵种", "欧包", "酸种", "酸面包", "sourdough"]),
    "toast": ("product", ["吐司面包", "吐司", "toast"]),
    "croissant": ("product", ["可颂", "牛角包", "croissant", "croissants"]),
    "baguette": ("product", ["法棍", "baguette"]),
    "bagel": ("product", ["贝果", "bagel", "bagels"]),
    "eggtart": ("product", ["蛋挞", "egg tart", "egg tarts"]),
    "cookie": ("product", ["曲奇", "饼干", "cookie", "cookies", "biscuit", "biscuits"]),
    "puff": ("product", ["泡芙", "cream puff", "puff", "puffs"]),
    "tiramisu": ("product", ["提拉米苏", "tiramisu"]),
    "scone": ("product", ["司康", "scone", "scones"]),
    "macaron": ("product", ["马卡龙", "macaron", "macarons"]),
    "donut": ("product", ["甜甜圈", "donut", "donuts", "doughnut", "doughnuts"]),
    "swissroll": ("product", ["瑞士卷", "蛋糕卷", "swiss roll", "roll cake"]),
    "coffee": ("product", ["咖啡", "拿铁", "美式", "coffee", "latte", "americano"]),
    "milktea": ("product", ["奶茶", "milk tea"]),
    "giftcard": ("product", ["礼品卡", "储值卡", "gift card", "prepaid card"]),
    "bread": ("product", ["面包", "bread", "loaf", "loaves", "bun", "buns"]),
    "chocolate": ("product", ["巧克力", "可可", "chocolate", "cocoa"]),
    "matcha": ("product", ["抹茶", "matcha", "green tea"]),
    "strawberry": ("product", ["草莓", "strawberry", "strawberries"]),
    "mango": ("product", ["芒果", "mango"]),
    "durian": ("product", ["榴莲", "durian"]),
    "cheese": ("product", ["芝士", "奶酪", "cheese"]),
    "redbean": ("product", ["红豆", "red bean"]),
    "yolk": ("product", ["咸蛋黄", "蛋黄", "egg yolk", "salted egg"]),
    "floss": ("product", ["肉松", "pork floss", "floss"]),
    "blueberry": ("product", ["蓝莓", "blueberry"]),
    "taro": ("product", ["芋泥", "香芋", "taro"]),
    "dairy_cream": ("product", ["动物奶油", "dairy cream", "real cream", "dairy"]),
    "veg_cream": ("product", ["植物奶油", "non-dairy cream", "vegetable cream"]),
    "cream": ("product", ["奶油", "cream", "whipped cream"]),
    "butter": ("product", ["黄油", "butter"]),
    "milk": ("product", ["牛奶", "milk"]),
    "egg": ("product", ["鸡蛋", "egg", "eggs"]),
    # places: the demo chain's districts and cities
    **{
        name: ("place", words)
        for name, words in {
            "jingan": ["静安寺", "静安", "jing'an", "jingan"],
            "xujiahui": ["徐家汇", "xujiahui"],
            "lujiazui": ["陆家嘴", "lujiazui"],
            "wujiaochang": ["五角场", "wujiaochang"],
            "zhongshanpark": ["中山公园", "zhongshan park"],
            "xintiandi": ["新天地", "xintiandi"],
            "hongqiao": ["虹桥", "hongqiao"],
            "qibao": ["七宝", "qibao"],
            "zhangjiang": ["张江", "zhangjiang"],
            "songjiang": ["松江", "songjiang"],
            "wulin": ["武林广场", "武林", "wulin"],
            "hubin": ["湖滨", "hubin"],
            "binjiang": ["滨江", "binjiang"],
            "xixi": ["西溪", "xixi"],
            "qianjiang": ["钱江新城", "钱江", "qianjiang"],
            "xiasha": ["下沙", "xiasha"],
            "guanqian": ["观前街", "观前", "guanqian"],
            "jinjihu": ["金鸡湖", "jinjihu"],
            "shishan": ["狮山", "shishan"],
            "dushu": ["独墅湖", "dushu"],
            "wuzhong": ["吴中", "wuzhong"],
            "xiangcheng": ["相城", "xiangcheng"],
            "pingjiang": ["平江路", "pingjiang"],
            "shanghai": ["上海", "shanghai"],
            "hangzhou": ["杭州", "hangzhou"],
            "suzhou": ["苏州", "suzhou"],
            "beijing": ["北京", "beijing"],
        }.items()
    },
    # days and times
    "today": ("time", ["今天", "今日", "today", "tonight", "今晚"]),
    "tomorrow": ("time", ["明天", "明日", "tomorrow"]),
    "dayafter": ("time", ["后天", "day after tomorrow"]),
    "yesterday": ("time", ["昨天", "yesterday"]),
    "weekend": ("time", ["周末", "weekend", "weekends"]),
    "weekday": ("time", ["工作日", "weekday", "weekdays"]),
    "morning": ("time", ["上午", "早上", "早晨", "morning"]),
    "afternoon": ("time", ["下午", "afternoon"]),
    "evening": ("time", ["晚上", "傍晚", "evening", "night"]),
    "midautumn": ("time", ["中秋节", "中秋", "mid-autumn", "mid autumn"]),
    "nationalday": ("time", ["国庆节", "国庆", "national day"]),
    "springfestival": ("time", ["春节", "过年", "chinese new year", "spring festival"]),
    "christmas": ("time", ["圣诞节", "圣诞", "christmas", "xmas"]),
    "holiday": ("time", ["节假日", "假期", "holiday", "holidays", "public holiday"]),
    **{
        f"dow{i}": ("time", words)
        for i, words in enumerate(
            [
                ["周一", "星期一", "礼拜一", "monday"], ["周二", "星期二", "礼拜二", "tuesday"],
                ["周三", "星期三", "礼拜三", "wednesday"], ["周四", "星期四", "礼拜四", "thursday"],
                ["周五", "星期五", "礼拜五", "friday"], ["周六", "星期六", "礼拜六", "saturday"],
                ["周日", "周天", "星期日", "星期天", "礼拜天", "sunday"],
            ]
        )
    },
}  # fmt: skip

_GUARD_CATEGORIES = ("product", "place", "time", "polar")
_TIME = 2
# "the sourdough loaf" is the sourdough: a generic word next to a specific one adds nothing.
_GENERIC_PRODUCTS = {
    "bread": {"sourdough", "toast", "croissant", "baguette", "bagel"},
    "cake": {"cheesecake", "birthday_cake", "swissroll", "tiramisu"},
    "cream": {"dairy_cream", "veg_cream"},
}


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxh":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


_ASCII_WORD = re.compile(r"[a-z][a-z']*")


def _stem_text(text: str) -> str:
    """Stem English words in place, so "receipts" finds the phrase "receipt"."""
    return _ASCII_WORD.sub(lambda m: _stem(m.group(0)), text)


def _build_matcher() -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    lookup: dict[str, tuple[str, str]] = {}
    for concept, (category, phrases) in _CONCEPTS.items():
        for phrase in phrases:
            lookup.setdefault(_stem_text(normalise(phrase)), (concept, category))
    parts = []
    for phrase in sorted(lookup, key=len, reverse=True):
        escaped = re.escape(phrase)
        if re.fullmatch(r"[0-9a-z' .-]+", phrase):  # English: whole words only
            escaped = rf"(?<![a-z]){escaped}(?![a-z])"
        parts.append(escaped)
    return re.compile("|".join(parts)), lookup


_MATCHER, _LOOKUP = _build_matcher()

# A-not-A questions ("是不是", "能不能") carry no negation; politeness ("不好意思") neither.
_NOT_NEGATION = re.compile(
    r"是不是|能不能|可不可以|可以不|有没有|会不会|要不要|好不好|行不行|对不对|用不用|需不需要|"
    r"是否|不好意思|不知道|不客气|不错|差不多|不用谢"
)
_NEGATION_ZH = re.compile(r"[不没无别未非免]")
_NEGATION_EN = re.compile(
    r"(?<![a-z])(not|no|never|without|isn't|aren't|don't|doesn't|can't|cannot|won't|n't)(?![a-z])"
)

_FILLERS_ZH = re.compile(
    r"请问一下|请问|想问一下|想问下|想问|问一下|问下|请教|主播|小姐姐|小哥哥|老师|大家好|你好|您好|哈喽|"
    r"谢谢|麻烦|一下|我想|我们|你们|咱们|这个|那个|这款|那款|这种|那种|的话|一般|大概|怎么样|怎么|如何|"
    r"什么|啥|哪个|哪款|亲|家人们|宝子|姐妹们|姐妹|直播间|现在|还是|可以|能够|需要|还有|多少|门店|店里|店铺|分店|吗|呢|啊|呀|吧|哦|哈|嘛|啦|"
    r"的|了|么|是|有|能|会|要|想|我|你|您|他|她|它|在|都|也|还|就|和|跟|与|或|个|把|被|给|让|得|地|着|"
    r"过|吃|买|做|这|那|多|些|款|种|份|点|下|上|里|中|对|请|卖|店|"
    r"不|没|无|别|未|非|免"
)
_STOP_EN = frozenset(
    "a an the is are am was were be been being do does did can could would will should shall may "
    "might must i me my we our us you your it its this that these those there here to of for in on "
    "at by with from about and or but if so as please hi hello hey host guys anyone any some what "
    "how which who whom why is it ok okay get got have has had just also still really very much "
    "many thanks thank pls plz there's what's it's i'm one ones yes know want like need tell "
    "not no never without isn't aren't don't doesn't can't cannot won't buy order make issue "
    "provide offer store shop branch outlet".split()
)
_STOP_EN = frozenset(_stem(w) for w in _STOP_EN)
_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "twelve": "12", "half": "0.5",
}  # fmt: skip
_ZH_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_NUMBER = re.compile(
    r"(?:(?<=第)|(?<=周)|(?<=星期))?([零一二两三四五六七八九十]+)(?=寸|个|块|元|斤|号|点|人|天|盒|只|片|磅|克|折|岁|位|份|张|次|层|磅|分钟|小时|月|周)"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_WORD = re.compile(r"[a-z][a-z']*")


def _zh_number(word: str) -> str:
    """一..九十九 -> digits (enough for sizes, counts and dates)."""
    if "十" not in word:
        return "".join(str(_ZH_DIGITS.get(ch, 0)) for ch in word)
    tens, _, ones = word.partition("十")
    return str(
        (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + (_ZH_DIGITS.get(ones, 0) if ones else 0)
    )


# Weights: concept tokens say more than a stray bigram; numbers/places count as content too.
_WEIGHT = {"#": 2.5, "@": 2.0, "n": 1.5, "w": 1.5, "b": 1.0}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a question is about, for comparison with others."""

    tokens: frozenset[str]
    guards: tuple[frozenset[str], ...]  # product, place, time, polar, numbers
    negated: bool

    @property
    def weight(self) -> float:
        return sum(_WEIGHT[t[0]] for t in self.tokens)


def fingerprint(text: str) -> Fingerprint:
    """Compute the fingerprint of one question's text."""
    norm = _stem_text(normalise(text))
    norm = _NOT_NEGATION.sub(
        lambda m: " " + m.group(0)[0] + " " if m.group(0)[0] in "是能有会要好行对用" else " ", norm
    )
    tokens: set[str] = set()
    guards: dict[str, set[str]] = {c: set() for c in _GUARD_CATEGORIES}
    numbers: set[str] = set()

    def concept(match: re.Match[str]) -> str:
        name, category = _LOOKUP[match.group(0)]
        if category in guards:
            guards[category].add(name)
        tokens.add(("@" if category in ("product", "place", "time") else "#") + name)
        return " | "

    # Concepts first ("周一", "一个人" are words, not numbers); negation is read after
    # concepts swallow "无糖" (a product attribute, not a negation).
    rest = _MATCHER.sub(concept, norm)
    rest = _ZH_NUMBER.sub(lambda m: _zh_number(m.group(1)), rest)
    negated = bool(
        _NEGATION_ZH.search(" ".join(_CJK_RUN.findall(rest))) or _NEGATION_EN.search(rest)
    )
    for word, digits in _NUMBER_WORDS.items():
        rest = re.sub(rf"(?<![a-z]){word}(?![a-z])", digits, rest)
    for num in _NUMBER.findall(rest):
        value = num.rstrip("0").rstrip(".") if "." in num else str(int(num))
        numbers.add(value)
        tokens.add("n" + value)
    rest = _NUMBER.sub(" ", rest)
    rest = _FILLERS_ZH.sub(" ", rest)
    for run in _CJK_RUN.findall(rest):
        if len(run) == 1:
            tokens.add("b" + run)
        else:
            tokens.update("b" + run[i : i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(rest):
        if word not in _STOP_EN and len(word) > 1:
            tokens.add("w" + word)
    products = guards["product"]
    for generic, specific in _GENERIC_PRODUCTS.items():
        if generic in products and products & specific:
            products.discard(generic)
    return Fingerprint(
        tokens=frozenset(tokens),
        guards=(*(frozenset(guards[c]) for c in _GUARD_CATEGORIES), frozenset(numbers)),
        negated=negated,
    )


@dataclass(frozen=True, slots=True)
class Thresholds:
    jaccard: float = 0.5  # weighted Jaccard alone
    containment: float = 0.85  # a short question inside a longer one ...
    containment_jaccard: float = 0.34  # ... provided they still overlap this much
    containment_min_weight: float = 4.0  # ... and the short one says enough on its own


THRESHOLDS = Thresholds()


def guards_agree(a: Fingerprint, b: Fingerprint) -> bool:
    """Look-alike guard: same products, places, polar side, numbers and negation; the
    same day or time when both name one ("开门吗" and "今天开门吗" ask the same)."""
    if a.negated != b.negated:
        return False
    for i, (x, y) in enumerate(zip(a.guards, b.guards, strict=True)):
        if x != y and not (i == _TIME and (not x or not y)):
            return False
    return True


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(weighted Jaccard, weighted containment of the smaller in the larger)."""
    if not a.tokens or not b.tokens:
        return 0.0, 0.0
    common = sum(_WEIGHT[t[0]] for t in a.tokens & b.tokens)
    if common == 0:
        return 0.0, 0.0
    wa, wb = a.weight, b.weight
    return common / (wa + wb - common), common / min(wa, wb)


def is_duplicate(a: Fingerprint, b: Fingerprint, th: Thresholds = THRESHOLDS) -> bool:
    """Whether two questions ask the same thing (see the module docstring)."""
    if not guards_agree(a, b):
        return False
    jac, cont = similarity(a, b)
    if jac >= th.jaccard:
        return True
    return (
        cont >= th.containment
        and jac >= th.containment_jaccard
        and min(a.weight, b.weight) >= th.containment_min_weight
    )


class DedupIndex:
    """The cards of one room, searchable by shared tokens.

    Cards are bucketed by lane ("open" questions and "held" spam never merge) and by their
    hard guards (products, places, polar side, numbers, negation): only cards that could
    ever be duplicates share a bucket, and each bucket has its own inverted index.
    """

    MAX_CANDIDATES = 300

    def __init__(self) -> None:
        self.cards: dict[str, tuple[str, Fingerprint]] = {}
        self._buckets: dict[tuple[object, ...], dict[str, set[str]]] = {}
        self.length = 0  # entries of the room's Redis index list already applied

    @staticmethod
    def _bucket(fp: Fingerprint, lane: str) -> tuple[object, ...]:
        hard = tuple(g for i, g in enumerate(fp.guards) if i != _TIME)
        return (lane, fp.negated, *hard)

    def add(self, card_id: str, lane: str, text: str, fp: Fingerprint | None = None) -> None:
        fp = fp or fingerprint(text)
        self.cards[card_id] = (lane, fp)
        postings = self._buckets.setdefault(self._bucket(fp, lane), {})
        for token in fp.tokens:
            postings.setdefault(token, set()).add(card_id)

    def best_match(self, fp: Fingerprint, lane: str) -> str | None:
        """The most similar card that is a duplicate of ``fp`` in ``lane``, if any."""
        postings = self._buckets.get(self._bucket(fp, lane))
        if not postings:
            return None
        counts: Counter[str] = Counter()
        for token in fp.tokens:
            counts.update(postings.get(token, ()))
        best: tuple[float, str] | None = None
        for card_id, _shared in counts.most_common(self.MAX_CANDIDATES):
            other = self.cards[card_id][1]
            if not is_duplicate(fp, other):
                continue
            score = similarity(fp, other)[0]
            if best is None or score > best[0] or (score == best[0] and card_id < best[1]):
                best = (score, card_id)
        return best[1] if best else None

    def apply(
        self, start: int, entries: Iterable[tuple[str, str, str]], fp: Fingerprint | None = None
    ) -> None:
        """Apply entries of the room's index list read from position ``start``; those
        already applied (by a concurrent reader in this process) are skipped."""
        for position, (card_id, lane, text) in enumerate(entries, start):
            if position == self.length:
                self.add(card_id, lane, text, fp)
                self.length += 1
