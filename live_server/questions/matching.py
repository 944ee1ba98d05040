"""Is a new question the same question as an open card? (the question matcher)

Two questions are the same when one answer from the host answers both askers. The
matcher reads a question into a :class:`Reading` once, then compares readings:

1. **Normalisation**: NFKC (full-width letters and digits folded), traditional to
   simplified Chinese (OpenCC), lower case, punctuation and emoji dropped.
2. **Vocabulary**: the brand's lexicon (synonym groups, product names; data, not code:
   ``PUT /api/v1/brands/{brand}/lexicon``) on top of a generic retail lexicon turns every
   synonym, in Chinese or English, into one concept, so "积分", "points" and "会员积分"
   meet.
3. **Words**: Chinese runs are segmented with jieba's dictionary (``rjieba``: jieba-rs),
   English words stemmed; fillers (请问, 亲, please, ...) and question words dropped from the
   content. Concepts, product names and model identifiers weigh more than common words,
   single characters less.
4. **Guards** keep look-alikes apart whatever the overlap: the question's intent (price /
   time / quantity), numbers (6寸 vs 8寸), time words (今天 vs 明天), opposite words
   (开门 vs 关门, 偏大 vs 偏小), a negated word on one side only (没拆吊牌 vs 拆了吊牌,
   非人为 vs 人为), and a distinct strong word on each side (手机 vs 耳机, 保修 vs 延保).
5. **Score**: the likelihood that two readings are one question, a logistic model over
   what they share and what each adds: the weighted overlap of content words, the shorter
   question's coverage (extra context does not change the answer), character bigrams
   (segmentation and wording variants: 试色 / 试色号), the weight of words on one side
   only, and whether both ask the same kind of answer. Its weights are learned from
   the dev pairs of ``bench/questions/eval_sets`` (``python -m bench.questions.train_scorer``
   writes ``scorer_weights.py``; the frozen test pairs are never used).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import opencc
import rjieba

from live_server.questions import scorer_weights

_T = TypeVar("_T")
_T2S = opencc.OpenCC("t2s")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_NOT_TEXT = re.compile(rf"[^0-9a-z{_CJK}\s.\-']+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Width-folded (NFKC), simplified Chinese, lower case, punctuation and emoji as spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _T2S.convert(text).lower()
    text = _NOT_TEXT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# --- intents: what kind of answer the question wants -----------------------------------

_INTENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "price",
        r"多少钱|价格|价钱|怎么卖|什么价|啥价|几块|几元|贵不贵|贵吗|要钱|收费|付费|手续费|"
        r"另外买|另付|额外|价多少|价是多少|\bhow much\b|\bprices?\b|\bcosts?\b|\bexpensive\b|"
        r"\bpricey\b|\bcharge (?:for|extra)\b|\bextra charge\b|\bfees?\b",
    ),
    (
        "when",
        r"几点|什么时候|啥时候|何时|几时|哪天|几号|多久|多长时间|多少天|几天|几个小时|几小时|"
        r"多少小时|几年|几个月|多长|保质期|有效期|期限|营业时间|\bwhen\b|\bwhat time\b|"
        r"\bhow long\b|\bhow many days\b|\bhow many hours\b|\bhow soon\b|\bhow early\b|"
        r"\bin advance\b|\bshelf life\b|\bopening (?:time|hours)\b|\bbattery life\b|\bperiod\b",
    ),
    (
        "qty",
        r"几个|多少个|多少克|多少毫升|多少毫安|多少寸|多大|多重|多高|多宽|几瓦|几种|几款|几色|"
        r"几件|几盒|几片|几支|几套|几副|多少(?!钱)|"
        r"哪些(?=口味|颜色|色|款|尺码|码|规格|型号|配色|味道|可选)|"
        r"how many|how big|how heavy|what capacity",
    ),
    (
        "how",
        r"怎么(?!样)|如何(?! |$)|怎样(?!的| |$)|咋(?!样)|方法|步骤|在哪|哪里|哪儿|去哪|地址|几楼|"
        r"how do|how to|how can|how should|how does|right way|the way to|where|address|"
        r"which floor",
    ),
)
_ANSWER_KINDS = frozenset(("price", "when", "qty", "how"))
"""A different one of these on each side (or one side only) is a different question."""
_INTENTS = tuple((name, re.compile(pattern)) for name, pattern in _INTENT_PATTERNS)
_INTENT_OF = dict(_INTENTS)
_MEASURE = re.compile("[一二两三四五六七八九十几每半][^一二两三四五六七八九十几每半]")


def _not_a_thing(surface: str, intent: str) -> bool:
    """A word that asks the question's kind of answer (价格 in a price question) or a
    measure (一盒, 每个) is not what the question is about."""
    if _MEASURE.fullmatch(surface):
        return True
    pattern = _INTENT_OF.get(intent)
    return pattern is not None and pattern.search(surface) is not None


_QUESTION_WORDS = re.compile(
    r"多少钱|多少|什么时候|啥时候|什么|啥|怎么样|怎么|怎样|如何|咋|哪里|哪儿|哪个|哪款|哪种|哪些|"
    r"哪|几点|几个|几天|几[种款件样次份]|几|多久|多长时间|多长|多大|多重|多高|多宽|多远|"
    r"能不能|可不可以|可以不(?![\u4e00-\u9fff])|行不行|是不是|会不会|有没有|要不要|好不好|"
    r"how much|how many|how long|what time"
)

# --- words that carry no content ---------------------------------------------------------

_FILLERS_ZH = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 哈 啦 么 呗 哇 噢 喔 亲 亲们 请问 想问 问下 问一下 问问 一下 "
    "麻烦 谢谢 这个 那个 这款 那款 这件 那件 这支 这盒 这种 你们 你家 我们 我 你 他 她 它 "
    "是 在 就 都 还 也 和 跟 与 及 或 要 想 会 能 可以 可 吗 有 给 让 把 被 对 "
    "那边 这边 那里 这里 现在 一般 大概 请 帮 帮忙 主播 老师 宝宝 姐妹 小姐姐 家人们 大家 "
    "如果 的话 然后 但是 因为 所以 还是 或者 比较 一个 一 下 上 里 里面 里头 啊亲".split()
)
_STOP_EN = frozenset(
    "a an the is are am was were be been being do does did can could may might will would "
    "shall should must i me my we our you your it its this that these those there here to of "
    "for in on at by with from as and or but if so any some please pls hi hello hey thanks "
    "thank what which who whom whose when where why how much many get got have has had "
    "one ones them they their he she his her us also just still yet too very really".split()
)
_THIS = re.compile(
    "[这那](?:里|边|儿|样|么|一)?[个款件支只种条瓶盒套双台部份块张本把顶副对片罐袋包些]?"
)
"""This / that and its measure word (这款, 那支, 这双): the segmenter cuts them into single
characters, which would otherwise count as words two questions share."""
_NEGATIONS_ZH = "不没无未非别免"
_X_NOT_X = re.compile(rf"([{_CJK}])[不没]\1")
_A_NOT_A = re.compile(
    _X_NOT_X.pattern + "|有没有|是不是|能不能|可不可以|会不会|要不要|好不好|行不行|对不对|还没"
)
_NEGATION_EN = re.compile(r"\b(?:not|no|without|non|never)\b|n't\b")
_TIME_WORDS = frozenset(
    "今天 明天 后天 昨天 今晚 明晚 明早 今早 上午 下午 晚上 早上 周一 周二 周三 周四 周五 周六 "
    "周日 周末 工作日 当天 当日 前一天 后一天 前天 之前 以前 之后 以后 提前 today tomorrow "
    "tonight yesterday morning afternoon evening weekend weekday monday tuesday wednesday "
    "thursday friday saturday sunday before after".split()
)
# Times of more than one word (这周日 / 下周日, this week / next week), read from the text
# before segmentation and written one way (本周日, 下周, 当月) so that both languages meet.
_TIME_PHRASE = re.compile(
    r"(这|本|下下|下|上)个?(周|星期|礼拜|月)([一二三四五六日天末]?)|当(天|日|月|周|晚)|"
    r"双(十一|11|十二|12)|白天|夜里|中午|凌晨|傍晚|半夜|今年|明年|去年|"
    r"(?<![a-z])(this|next|last) (week|month|year|weekend)(?![a-z])"
)
_TIME_EN = {"this": "本", "next": "下", "last": "上", "week": "周", "month": "月", "year": "年",
            "weekend": "周末"}  # fmt: skip


def _time_phrases(text: str) -> tuple[set[str], list[str]]:
    """The time phrases of a text, written one way, and the text they were read from."""
    found = set()
    spans = []
    for m in _TIME_PHRASE.finditer(text):
        spans.append(m.group())
        if m.group(1):
            unit = "月" if m.group(2) == "月" else "周"
            day = "日" if m.group(3) == "天" else m.group(3)
            found.add(("本" if m.group(1) == "这" else m.group(1)) + unit + day)
        elif m.group(4):
            found.add("当" + ("天" if m.group(4) == "日" else m.group(4)))
        elif m.group(5):
            found.add("双" + ("十一" if m.group(5) in ("十一", "11") else "十二"))
        elif m.group(6):
            found.add(_TIME_EN[m.group(6)] + _TIME_EN[m.group(7)])
        else:
            found.add(m.group())
    return found, spans


def hidden_by(surface: str) -> str | None:
    """Why a vocabulary surface cannot be a concept's, or None: a time word (今天 as a concept
    would escape the time guard) or a question word (the intent reads those first, so such a
    surface never matches). The matcher leaves such surfaces out of a lexicon."""
    return _hidden(normalise(surface))


def _hidden(text: str) -> str | None:
    """:func:`hidden_by` of a normalised surface."""
    if text in _TIME_WORDS:
        return "time"
    if _QUESTION_WORDS.search(text):
        return "question word"
    return None


# Generic opposites; a brand's lexicon adds its own ("antonyms").
_ANTONYMS_GENERIC: tuple[tuple[str, str], ...] = (
    ("开门", "关门"),
    ("营业", "打烊"),
    ("偏大", "偏小"),
    ("长款", "短款"),
    ("加", "少"),
    ("冷", "热"),
    ("甜", "咸"),
    ("深", "浅"),
    ("厚", "薄"),
    ("早", "晚"),
    ("大", "小"),
    ("长", "短"),
    ("多", "少"),
    ("新", "旧"),
    ("黑", "白"),
    ("上", "下"),
    ("线上", "线下"),
    ("open", "close"),
    ("large", "small"),
    ("big", "small"),
    ("long", "short"),
    ("hot", "cold"),
    ("early", "late"),
    ("light", "dark"),
    ("thick", "thin"),
)
_SINGLE_CHAR_OPPOSITES = frozenset(
    c for a, b in _ANTONYMS_GENERIC for c in (a, b) if len(c) == 1 and _CJK_RUN.match(c)
)

_STRONG_WORDS = frozenset(
    "pro max plus mini lite ultra se air xs s m l xl xxl xxxl 2xl 3xl 男款 女款 童款 长款 短款 "
    "男 女 童 红 橙 黄 绿 青 蓝 紫 黑 白 灰 粉 金 银 棕 米 杏 卡其 红色 橙色 黄色 绿色 蓝色 紫色 "
    "黑色 白色 灰色 粉色 金色 银色 棕色 米色 杏色 卡其色 red orange yellow green blue purple "
    "black white grey gray pink gold silver brown beige".split()
)
"""Variants, sizes and colours: a different one on each side is a different question."""
_LIGHT_CONCEPTS = frozenset(("§使用", "§购买", "§领取", "§包含", "§试用", "§门店"))
"""Generic verbs and places: concepts (so synonyms meet) that weigh as much as a word."""
_STORE_WORDS = frozenset(("店", "门店", "专柜", "柜台", "§门店", "§专柜"))
"""A word right before these names the store (静安店, 国贸专柜): a different store, a different
question."""

_EN_ACTION = re.compile(
    r"\b(?:how (?:do|can|should|would) (?:i|we|you)|how to|can (?:i|we|you)|could (?:i|we|you)|"
    r"may i|do you)\s+([a-z]{2,})"
)
_LIGHT_VERBS = frozenset(
    "能 去 来 要 想 会 可以 可 有 还有 是 在 做 弄 搞 办 需要 用得 得 让 给 叫 看 看看 问 请 帮 "
    "支持 支援 适合 "
    "be have do go come get make take let help need want know tell ask".split()
)
"""Verbs that say how, not what (能, 去, get): no action of their own."""

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ZH_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}  # fmt: skip
_ZH_NUMBER = re.compile(r"([零一二两三四五六七八九十百]+)(?=[寸期天斤号码岁人个盒片支件瓦年月周])")
_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "twenty": 20}  # fmt: skip
_WORD = re.compile(rf"[{_CJK}]+|[a-z0-9][a-z0-9.\-']*")
_IDENT = re.compile(r"(?=.*\d)(?=.*[a-z])[a-z0-9.\-]+")


def _arabic(match: re.Match[str]) -> str:
    """六寸 as 6寸, 七天 as 7天: one way of writing a number before its unit (一 alone, as in
    一个 / 一件, is "a", not a count)."""
    value = _zh_number(match.group(1)) if match.group(1) != "一" else None
    return match.group(1) if value is None else str(value)


def _zh_number(text: str) -> int | None:
    if text == "十":
        return 10
    if "百" in text:
        return None
    if "十" in text:
        tens, _, units = text.partition("十")
        return _ZH_DIGIT.get(tens, 1) * 10 + (_ZH_DIGIT.get(units, 0) if units else 0)
    if len(text) == 1:
        return _ZH_DIGIT.get(text)
    return None


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""),
                         ("s", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


# --- the vocabulary ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Synonym groups (each becomes one concept), product names, and opposite pairs."""

    synonyms: tuple[tuple[str, ...], ...] = ()
    products: tuple[str, ...] = ()
    antonyms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Lexicon:
        def groups(key: str) -> list[tuple[str, ...]]:
            value = data.get(key) or []
            assert isinstance(value, list)
            return [tuple(str(t) for t in g) for g in value if isinstance(g, list) and g]

        products = data.get("products") or []
        assert isinstance(products, list)
        return cls(
            synonyms=tuple(groups("synonyms")),
            products=tuple(str(p) for p in products),
            antonyms=tuple((g[0], g[1]) for g in groups("antonyms") if len(g) >= 2),
        )

    def merged(self, other: Lexicon) -> Lexicon:
        return Lexicon(self.synonyms + other.synonyms, self.products + other.products,
                       self.antonyms + other.antonyms)  # fmt: skip


_KNOWN_WORDS: set[str] = set()


def _teach(word: str) -> None:
    """Let the segmenter keep ``word`` whole (one process-wide dictionary)."""
    if word not in _KNOWN_WORDS and _CJK_RUN.fullmatch(word):
        rjieba.add_word(word, None, None)
        _KNOWN_WORDS.add(word)


FEATURES = (
    "overlap",  # weighted Jaccard of content words
    "coverage",  # the shorter question's share of common weight
    "bigrams",  # Dice of character bigrams
    "unmatched",  # the lesser unmatched weight of the two, over the union
    "unmatched_strong",  # the same for concepts, products, identifiers
    "same_intent",  # both ask the same kind of answer
    "near",  # words of either side, unmatched otherwise, with a near word on the other side
    "apart_words",  # both add words of their own, and no two of them share a character
)
"""The inputs of :meth:`Matcher.score`, in the order of ``scorer_weights``: each one's meaning
is monotone (more in common: more likely one question; more on one side only: less), so
the learned weights cannot pick up an artefact of the labelled pairs. Counts of words of
one side only were tried and left out: they learned that a long question with many words
of its own is likely a duplicate (the labelled "context" pairs), which merged two cake
questions sharing only the word 蛋糕."""


def _named(label: str, others: Iterable[str]) -> bool:
    """Whether one of ``others`` names ``label`` in part or whole (小金瓶防晒 / 小金): both of
    two characters or more, one inside the other."""
    return len(label) >= 2 and any(
        len(other) >= 2 and (label in other or other in label) for other in others
    )


# the learned weights folded with the standardisation: z = intercept + sum(coef * feature)
_COEF = tuple(
    w / scale for w, scale in zip(scorer_weights.WEIGHTS, scorer_weights.SCALE, strict=True)
)
_INTERCEPT = scorer_weights.BIAS - sum(
    c * mean for c, mean in zip(_COEF, scorer_weights.MEAN, strict=True)
)


def likelihood(features: tuple[float, ...]) -> float:
    """The learned score of :data:`FEATURES`; two questions with no word and no character
    pair in common (这个多少钱 / 那个包包多少钱) are never one question."""
    overlap, _coverage, bigrams, *_ = features
    if not (overlap or bigrams):
        return 0.0
    z = _INTERCEPT + sum(c * x for c, x in zip(_COEF, features, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


NEAR_WORDS_PATH = Path(__file__).with_name("lexicons") / "near-words.json.gz"
"""Generated by ``python -m bench.questions.build_near_words`` (distilled offline from a
multilingual sentence encoder; the server needs neither the model nor numpy)."""

_NEAR: dict[str, tuple[str, ...]] | None = None


def load_near_words(path: Path = NEAR_WORDS_PATH) -> dict[str, tuple[str, ...]]:
    """Word label -> the labels of its near words, read from a generated table."""
    data = json.loads(gzip.decompress(path.read_bytes()))
    pool: dict[str, str] = {}  # one string object per label: ~67,000 labels, ~530,000 links
    return {
        pool.setdefault(k, k): tuple(pool.setdefault(x, x) for x in v)
        for k, v in data["near"].items()
    }


def near_words() -> Mapping[str, tuple[str, ...]]:
    """The shipped near-word table, loaded once per process (about 13 MiB, 0.3 s)."""
    global _NEAR
    if _NEAR is None:
        _NEAR = load_near_words()
    return _NEAR


CONCEPT_WEIGHT = 2.0
PRODUCT_WEIGHT = 2.5
IDENT_WEIGHT = 2.5
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 0.8
STRONG = 2.5


_EMPTY: frozenset[Any] = frozenset()


def _frozen(items: Iterable[_T]) -> frozenset[_T]:
    """A frozenset, the one shared empty one when there is nothing: most readings have no
    numbers, times or negations, and each empty frozenset costs 216 bytes per card."""
    found = frozenset(items)
    return found if found else _EMPTY


@dataclass(frozen=True, slots=True)
class Reading:
    """What the matcher keeps of one question."""

    text: str
    words: Mapping[str, float]
    """content token -> weight (concepts ``§n``, products ``@name``, identifiers, words)"""
    bigrams: frozenset[str]
    intents: frozenset[str]
    numbers: frozenset[float]
    times: frozenset[str]
    negated: frozenset[str]
    opposites: frozenset[str]
    """words and characters that have an opposite (开门, 大, ...)"""
    things: frozenset[str] = frozenset()
    """nouns (jieba's part of speech n*): what a question is about"""
    actions: frozenset[str] = frozenset()
    """what the asker wants to do (领, 用, 试听, redeem): verbs by jieba's part of speech, and
    in English the verb after "how do I" / "can I"; a different one on each side is a
    different question (怎么领 vs 怎么用)"""
    labels: Mapping[str, str] = field(default_factory=dict)
    """content token -> its surface (a concept's or product's canonical name, else itself)"""
    strong: tuple[str, ...] = ()
    """the content tokens of weight STRONG or more (a store, a variant, a product)"""
    products: frozenset[str] = frozenset()
    """the brand's products named (``@name``)"""


def search_keys(reading: Reading) -> frozenset[str]:
    """The character keys a room's index also finds a card by, beside its words: its
    character bigrams (生吐司 / 吐司, wording variants) and each character of a
    two-character Chinese word (弹力 / 弹). Two questions the score can merge share a word,
    a bigram or a contained word: the keys make sure such a card is a candidate at all."""
    chars = {
        c for label in reading.labels.values() if len(label) == 2 and _CJK_RUN.fullmatch(label)
        for c in label
    }  # fmt: skip
    return reading.bigrams | chars if chars else reading.bigrams


class Matcher:
    """Reads questions and decides whether two readings are the same question."""

    def __init__(
        self,
        lexicon: Lexicon | None = None,
        *,
        threshold: float = scorer_weights.THRESHOLD,
        near: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.threshold = threshold
        """the least :meth:`score` of two readings that are the same question"""
        self.suggest = min(scorer_weights.SUGGEST, threshold)
        """the least score at which a new card names the closest card as ``similar_to``"""
        self._near = near_words() if near is None else near
        """word label -> near labels (``near_words``; the ``near`` figure)"""
        self._concept: dict[str, str] = {}  # surface -> token
        self._surface: dict[str, str] = {}  # token -> its canonical surface
        phrases: list[str] = []
        for filler in _FILLERS_ZH:  # 主播 is no content, 主 and 播 would be
            if len(filler) > 1:
                _teach(filler)
        lexicon = lexicon or Lexicon()
        entries = [(group, f"§{normalise(group[0])}") for group in lexicon.synonyms]
        entries += [((product,), f"@{normalise(product)}") for product in lexicon.products]
        for group, token in entries:
            self._surface.setdefault(token, token[1:].replace(" ", ""))
            for surface in group:
                # as read() will see it: 冷不冷 as 冷, 闷不闷痘 as 闷痘
                key = _X_NOT_X.sub(r"\1", normalise(surface))
                if not key or key in self._concept or _hidden(key):
                    continue
                self._concept[key] = token
                # one Chinese character is a word only where the segmenter says so
                if not (len(key) == 1 and _CJK_RUN.fullmatch(key)):
                    phrases.append(key)
                    _teach(key.replace(" ", ""))
        # phrase lengths by first character, longest first: a dict scan, not a regex of
        # thousands of alternatives (the generic vocabulary alone has ~3,000 surfaces)
        lengths: dict[str, set[int]] = {}
        for phrase in phrases:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
        self._phrases = {c: sorted(ls, reverse=True) for c, ls in lengths.items()}
        self._phrase_set = frozenset(phrases)
        # a concept is an action where its Chinese surfaces are verbs (领/领取/领券)
        self._verbal = frozenset(
            token for group, token in entries
            if any(
                len(tags := rjieba.tag(normalise(x).replace(" ", ""), False)) == 1
                and tags[0][1] == "v"
                for x in group if _CJK_RUN.fullmatch(normalise(x).replace(" ", ""))
            )
        )  # fmt: skip
        self._opposite: dict[str, set[str]] = {}
        for a, b in (*_ANTONYMS_GENERIC, *lexicon.antonyms):
            a, b = normalise(a), normalise(b)
            self._opposite.setdefault(a, set()).add(b)
            self._opposite.setdefault(b, set()).add(a)
            for x, y in ((a, b), (b, a)):
                if x in self._concept:
                    self._opposite.setdefault(self._concept[x], set()).add(self._concept.get(y, y))

    # --- reading -----------------------------------------------------------------------

    def read(self, raw: str) -> Reading:
        text = normalise(raw)
        english_actions: set[str] = set()
        for match in _EN_ACTION.finditer(text):  # the verb, and its concept if it has one
            english_actions.add(_stem(match.group(1)))
            english_actions.add(self._concept.get(match.group(1), ""))
        # the one kind of answer wanted: price before time before quantity before how-to
        primary = next((name for name, pattern in _INTENTS if pattern.search(text)), "")
        intents = frozenset((primary,)) if primary else _EMPTY
        numbers = set[float]()
        for match in _ZH_NUMBER.finditer(text):
            value = _zh_number(match.group(1))
            if value is not None:
                numbers.add(float(value))
        for match in _NUMBER.finditer(text):
            numbers.add(float(match.group()))
        for word, value in _EN_NUMBERS.items():
            if re.search(rf"\b{word}\b", text):
                numbers.add(float(value))
        times, spans = _time_phrases(text)
        text = _ZH_NUMBER.sub(_arabic, text)
        body = _A_NOT_A.sub(lambda m: f" {m.group(1)}" if m.group(1) else " ", text)
        body = _QUESTION_WORDS.sub(" ", body)
        body = _THIS.sub(" ", body)
        words: dict[str, float] = {}
        chars: list[str] = []
        units: set[str] = set()  # English words: whole, beside the Chinese bigrams
        negated: set[str] = set()
        opposites: set[str] = set()
        negate_next = False
        previous = ""
        tagged = list(self._tokens(body))
        tokens = [token for token, _ in tagged]
        actions: set[str] = set()
        things: set[str] = set()
        for index, (token, pos) in enumerate(tagged):
            if token in _TIME_WORDS:
                if not any(token in span for span in spans):  # 周日 of 下周日: read already
                    times.add(token)
                continue
            if token in _FILLERS_ZH or token in _STOP_EN:
                if token in _NEGATIONS_ZH or token in ("no", "not"):
                    negate_next = True
                continue
            if token.startswith(("§", "@")):
                weight = CONCEPT_WEIGHT if token[0] == "§" else PRODUCT_WEIGHT
                if token in _LIGHT_CONCEPTS:
                    weight = WORD_WEIGHT
                surface = self._surface.get(token, "")
                chars.append(surface)
            elif _CJK_RUN.fullmatch(token):
                negative = (
                    token[0] in _NEGATIONS_ZH and len(token) > 1 and token not in _KNOWN_WORDS
                )
                if negative:
                    token = token[1:]
                elif token in _NEGATIONS_ZH:
                    negate_next = True
                    continue
                concept = self._concept.get(token)
                if negative:  # 没洗: what is negated is the word's concept if it has one
                    negated.add(concept or token)
                if concept is not None:  # a one-character synonym, segmented alone
                    token = concept
                    weight = WORD_WEIGHT if concept in _LIGHT_CONCEPTS else CONCEPT_WEIGHT
                    chars.append(self._surface.get(concept, ""))
                else:
                    chars.append(token)
                    weight = WORD_WEIGHT if len(token) > 1 else CHAR_WEIGHT
                    opposites.update(c for c in token if c in _SINGLE_CHAR_OPPOSITES)
            else:
                if token.endswith("n't") or token in ("without", "never", "non"):
                    negate_next = True
                    continue
                if token == "free" and previous and tokens[index - 1].startswith("§"):
                    negated.add(previous)  # "nut-free": the concept before it, negated
                    continue
                if token.endswith("-free") and len(token) > 5:
                    token = _stem(token[:-5])
                    negated.add(token)
                elif token.startswith("un") and len(token) > 5:
                    token = _stem(token[2:])
                    negated.add(token)
                if _NUMBER.fullmatch(token):
                    continue
                if token in _STRONG_WORDS or _IDENT.fullmatch(token):
                    weight = IDENT_WEIGHT
                else:
                    token = _stem(token)
                    if token in _STOP_EN or len(token) < 2:
                        continue
                    weight = WORD_WEIGHT
            if token in _STRONG_WORDS:
                weight = max(weight, STRONG)
            if token[0] not in "§@" and not _CJK_RUN.match(token):
                units.add(token)
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if (
                following in _STORE_WORDS
                or (len(token) >= 3 and token[-1] == "店" and _CJK_RUN.fullmatch(token))
                or (index and tokens[index - 1] in ("at", "in") and not token.startswith("§"))
            ):
                weight = max(weight, STRONG)
            if token in self._opposite:
                opposites.add(token)
            if (pos == "v" or token in english_actions or token in self._verbal) and (
                token not in _LIGHT_VERBS
            ):
                actions.add(token)
            elif (
                (pos == "n" and not token.startswith(("§", "@"))) or token.startswith("§")
            ) and not _not_a_thing(self._label(token), primary):
                things.add(token)  # a noun, or a concept that is not an action (酒精, 防水)
            if negate_next:
                negated.add(token)
                # "不带坚果": a light word (带, use, get) passes the negation on
                negate_next = token in _LIGHT_CONCEPTS
            words[token] = max(words.get(token, 0.0), weight)
            previous = token
        bigrams = (
            frozenset(run[i : i + 2] for run in chars for i in range(len(run) - 1))
            | frozenset(run for run in chars if len(run) == 1)
            | units
        )
        return Reading(
            raw, words, bigrams, intents, _frozen(numbers), _frozen(times), _frozen(negated),
            _frozen(opposites), _frozen(things), _frozen(actions),
            {t: self._label(t) for t in words},
            tuple(t for t, w in words.items() if w >= STRONG),
            _frozen(t for t in words if t[0] == "@"),
        )  # fmt: skip

    def _tokens(self, text: str) -> Iterable[tuple[str, str]]:
        """(token, part of speech: "v" for a Chinese verb, else "")."""
        pieces = self._split_phrases(text) if self._phrases else [text]
        for piece in pieces:
            if piece.startswith(("§", "@")):
                yield piece, ""
                continue
            for word in _WORD.findall(piece):
                if _CJK_RUN.fullmatch(word):
                    yield from ((w, t[:1]) for w, t in rjieba.tag(word, False) if w.strip())
                else:
                    word = word.strip(".-'")
                    if "'" in word and not word.endswith("n't"):  # it's, what's, i'm
                        word = word.split("'")[0]
                    yield word, ""

    def _split_phrases(self, text: str) -> list[str]:
        """``text`` cut around the lexicon's surfaces (leftmost, then longest), each
        surface replaced by its token."""
        out: list[str] = []
        last = i = 0
        n = len(text)
        while i < n:
            for length in self._phrases.get(text[i], ()):
                surface = text[i : i + length]
                if surface not in self._phrase_set:
                    continue
                # an English surface only as whole words
                if surface[0].isascii() and surface[0].isalnum():
                    before = text[i - 1 : i] if i else ""
                    after = text[i + length : i + length + 1]
                    if (before and before.isascii() and before.isalnum()) or (
                        after and after.isascii() and after.isalnum()
                    ):
                        continue
                out.append(text[last:i])
                out.append(self._concept[surface])
                last = i = i + length
                break
            else:
                i += 1
        out.append(text[last:])
        return out

    # --- comparing -----------------------------------------------------------------------

    def _label(self, token: str) -> str:
        return self._surface.get(token, token) if token[:1] in ("§", "@") else token

    def _matched(self, a: Reading, b: Reading) -> tuple[float, float, float, float, float, float]:
        """(common weight, A's unmatched weight, B's unmatched weight, A's and B's unmatched
        strong weight, the unmatched weight with a near word on the other side), where a
        word also matches a word of the other side that contains it (试色 / 试色号, 生吐司 /
        吐司; one Chinese character only in a word of two: 弹 / 弹力, not 码 / 尺码表)."""
        common = 0.0
        left_b = dict(b.words)
        unmatched_a = 0.0
        strong_a = 0.0
        own_a: list[tuple[str, float]] = []
        for token, weight in a.words.items():
            if token in left_b:
                common += min(weight, left_b.pop(token))
                continue
            label = a.labels[token]
            partner = None
            if len(label) >= 2:  # containment first: a substring test is cheap, a regex not
                partner = next(
                    (
                        t for t in left_b
                        if ((lb := b.labels[t]) in label or label in lb)
                        and (len(lb) >= 2 or (len(label) == 2 and _CJK_RUN.match(lb)))
                        and (_CJK_RUN.match(label) or _IDENT.fullmatch(label)
                             or _IDENT.fullmatch(lb))
                    ),
                    None,
                )  # fmt: skip
            elif _CJK_RUN.match(label):  # one character in a word of two (弹 / 弹力, 腰 / 腰围)
                partner = next(
                    (t for t in left_b if len(lb := b.labels[t]) == 2 and label in lb
                     and _CJK_RUN.match(lb)),
                    None,
                )  # fmt: skip
            if partner is not None:
                common += 0.8 * min(weight, left_b.pop(partner))
            else:
                unmatched_a += weight
                strong_a += weight if weight >= CONCEPT_WEIGHT else 0.0
                own_a.append((token, weight))
        strong_b = sum(w for w in left_b.values() if w >= CONCEPT_WEIGHT)
        near = 0.0
        if own_a and left_b:
            labels_b = {b.labels[t]: w for t, w in left_b.items()}
            reached: set[str] = set()
            for token, weight in own_a:
                hits = [x for x in self._near.get(a.labels[token], ()) if x in labels_b]
                if hits:
                    near += weight
                    reached.update(hits)
            near += sum(labels_b[x] for x in reached)
        return common, unmatched_a, sum(left_b.values()), strong_a, strong_b, near

    def apart(self, a: Reading, b: Reading) -> str | None:
        """Why two readings cannot be the same question (a guard), or None."""
        if a.intents != b.intents and (a.intents | b.intents) & _ANSWER_KINDS:
            return "intent"
        if a.numbers and b.numbers and a.numbers != b.numbers:
            return "number"
        if a.times and b.times and a.times != b.times:
            return "time"
        for x in a.opposites:
            for y in self._opposite.get(x, ()):
                if y in b.opposites and x not in b.opposites and y not in a.opposites:
                    return "opposite"
        if (a.negated - b.negated) & b.words.keys() or (b.negated - a.negated) & a.words.keys():
            return "negation"
        # strong words of one side only; one the other side names in part (小金瓶防晒 / 小金)
        # is the same thing
        only_a = [t for t in a.strong if t not in b.words
                  and not _named(a.labels[t], b.labels.values())]  # fmt: skip
        only_b = [t for t in b.strong if t not in a.words
                  and not _named(b.labels[t], a.labels.values())]  # fmt: skip
        if a.products - b.products and b.products - a.products:
            return "distinct"  # two products of the brand's list (声浪Pods / 声浪Pods Pro)
        if any(t in _STRONG_WORDS for t in (*only_a, *only_b)):
            return "distinct"  # a variant, size or colour named on one side only
        if (
            only_a
            and only_b
            and not any(_named(a.labels[x], [b.labels[y] for y in only_b]) for x in only_a)
        ):
            return "distinct"
        return self._swapped(a, b)

    def _swapped(self, a: Reading, b: Reading) -> str | None:
        """One word swapped for another in the same question: the asker wants to do another
        thing (怎么领 / 怎么用, 能退 / 能换) or asks about another thing (防水 / 防摔)."""

        def related(xs: Iterable[str], ys: Iterable[str]) -> bool:
            labels = [b.labels[y] for y in ys]
            return any((lx := a.labels[x]) in ly or ly in lx for x in xs for ly in labels)

        acts_a, acts_b = a.actions - b.words.keys(), b.actions - a.words.keys()
        if (
            len(acts_a) == 1 and len(acts_b) == 1 and not (a.actions & b.actions)
            and a.words.keys() - acts_a == b.words.keys() - acts_b
            and not related(acts_a, acts_b)
        ):  # fmt: skip
            return "action"
        own_a, own_b = a.words.keys() - b.words.keys(), b.words.keys() - a.words.keys()
        if (
            len(own_a) == 1 and len(own_b) == 1
            and ((own_a <= a.things | a.actions and own_b <= b.things | b.actions)
                 or (own_a <= a.things and not own_b & b.actions)
                 or (own_b <= b.things and not own_a & a.actions))
            and not related(own_a, own_b)
        ):  # fmt: skip
            return "thing"  # 刻字 / 烫金: one thing asked for another (a noun or a verb)
        return None

    def features(self, a: Reading, b: Reading) -> tuple[float, ...]:
        """What the score weighs, named by :data:`FEATURES`."""
        base, only_a, only_b = self._overlap(a, b)
        return (*base, self._apart_words(a, b, only_a, only_b))

    def _overlap(self, a: Reading, b: Reading) -> tuple[tuple[float, ...], float, float]:
        """The figures of :data:`FEATURES` but the last, and each side's unmatched weight."""
        common, only_a, only_b, strong_a, strong_b, near = self._matched(a, b)
        union = common + only_a + only_b
        jaccard = common / union if union else 0.0
        smaller = min(common + only_a, common + only_b)
        coverage = common / smaller if smaller else 0.0
        if a.bigrams and b.bigrams:
            dice = 2 * len(a.bigrams & b.bigrams) / (len(a.bigrams) + len(b.bigrams))
        else:
            dice = jaccard
        return (
            (
                jaccard,
                coverage,
                dice,
                min(only_a, only_b) / (union or 1.0),
                min(strong_a, strong_b) / (union or 1.0),
                float(bool(a.intents) and a.intents == b.intents),
                near / (union or 1.0),
            ),
            only_a,
            only_b,
        )

    def _apart_words(self, a: Reading, b: Reading, only_a: float, only_b: float) -> float:
        """1.0 when both sides add words of their own and no two of them share a character
        (none when one side matched in full)."""
        own_a = self._own(a, b) if only_a and only_b else []
        own_b = self._own(b, a) if own_a else []
        if not (own_a and own_b):
            return 0.0
        return 0.0 if set().union(*own_a) & set().union(*own_b) else 1.0

    def _own(self, a: Reading, b: Reading) -> list[str]:
        """A's words that B has not, nor names in part (their surfaces)."""
        labels_b = b.labels.values()
        return [
            label for t, label in a.labels.items()
            if t not in b.words and not _named(label, labels_b)
        ]  # fmt: skip

    def score(self, a: Reading, b: Reading, floor: float = 0.0) -> float:
        """How likely two readings are one question (0..1; guards aside). Under ``floor``
        the value is only known to be under it: the last figure, which can only lower the
        score, is not computed then (the matcher's hot path: most candidates are under)."""
        base, only_a, only_b = self._overlap(a, b)
        if not (base[0] or base[2]):
            return 0.0  # as likelihood(): nothing in common
        z = _INTERCEPT + sum(c * x for c, x in zip(_COEF, base, strict=False))
        if not (_COEF[-1] <= 0.0 and 1.0 / (1.0 + math.exp(-z)) < floor):
            z += _COEF[-1] * self._apart_words(a, b, only_a, only_b)
        return 1.0 / (1.0 + math.exp(-z))

    def same(self, a: Reading, b: Reading) -> bool:
        return self.apart(a, b) is None and self.score(a, b) >= self.threshold
