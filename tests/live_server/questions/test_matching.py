"""The question matcher as a host sees it: paraphrases merge, look-alikes stay apart, a
brand's lexicon teaches it the brand's words. Pairs here are illustrations written for
this test; the quality figures come from bench/questions/eval_dedup.py on its frozen set."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.questions.eval_dedup import brand_lexicon, load, scores
from bench.questions.patch_vocabulary import apply
from live_server.questions.dedup import (
    RETAIL_LEXICONS,
    DedupIndex,
    default_matcher,
    lexicon_digest,
    retail_lexicon,
)
from live_server.questions.matching import (
    FEATURES,
    NEAR_WORDS_PATH,
    Lexicon,
    Matcher,
    hidden_by,
    near_words,
    normalise,
)
from live_server.questions.models import LANE_HELD, LANE_OPEN

COSMETICS = Lexicon(
    synonyms=(("小棕瓶", "特润修护精华", "advanced night repair"),),  # a brand's own names
    products=("水光精华",),
)


def same(matcher: Matcher, a: str, b: str) -> bool:
    return matcher.same(matcher.read(a), matcher.read(b))


def test_normalisation_folds_width_script_and_case() -> None:
    assert normalise("ＨＯＷ ＭＵＣＨ？請問優惠券怎麼用！") == "how much 请问优惠券怎么用"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("优惠券怎么用", "請問優惠券怎麼使用？"),
        ("ＨＯＷ ＭＵＣＨ ＩＳ ＴＨＥ ＣＡＫＥ", "how much is the cake"),
        ("可以预约吗", "能不能预约"),
        ("会员积分怎么查", "会员points怎么查"),
        ("静安店几点开门", "明天想去静安店买面包，静安店几点开门？"),
        ("六寸蛋糕多少钱", "6寸蛋糕多少钱"),  # a number in Chinese or in digits
        ("羽绒服穿着冷不冷", "羽绒服保暖吗"),  # a vocabulary surface read as a question is: 冷不冷
        ("有弹力吗", "这裤子弹不弹"),  # one character in a word of two: 弹 / 弹力
    ],
)
def test_paraphrases_merge_with_the_generic_vocabulary(a: str, b: str) -> None:
    assert same(default_matcher(), a, b), (a, b)


@pytest.mark.parametrize(
    ("a", "b", "guard"),
    [
        ("几点开门", "几点关门", "opposite"),  # one word apart, opposite answers
        ("6寸蛋糕多少钱", "8寸蛋糕多少钱", "number"),
        ("今天营业吗", "明天营业吗", "time"),
        ("有坚果月饼吗", "有没有不带坚果的月饼", "negation"),
        ("拆了吊牌能退吗", "没拆吊牌能退吗", "negation"),
        ("静安店有停车位吗", "徐汇店有停车位吗", "distinct"),  # another store
        ("X5有现货吗", "X5 Pro有现货吗", "distinct"),  # another model
        ("有M码吗", "有L码吗", "distinct"),  # another size
        ("月饼多少钱", "月饼什么时候发货", "intent"),  # price vs time
        ("有运费险吗", "运费险怎么用", "intent"),  # is there one vs how to use it
        ("退货地址在哪", "可以退货吗", "intent"),  # where vs can I
        ("耳机音质如何", "耳机音质怎么样", None),  # "how is it": an opinion, not a how-to
        ("how do I activate the card?", "how do I cancel the card?", "action"),
        ("这款包能刻字吗", "这款包能烫金吗", "thing"),  # one thing asked for another
        ("蛋糕能放几天", "蛋糕能放几天", None),
    ],
)
def test_look_alikes_stay_apart(a: str, b: str, guard: str | None) -> None:
    matcher = default_matcher()
    ra, rb = matcher.read(a), matcher.read(b)
    assert matcher.apart(ra, rb) == guard, (a, b)
    if guard is not None:
        assert not matcher.same(ra, rb)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("耳机降噪效果怎么样", "耳机能戴着游泳吗"),  # one product, two questions
        ("积分能抵现吗", "积分可以换小样吗"),
        ("这个多少钱", "那个包包多少钱"),  # nothing in common but the intent
        ("这个粉底液适合油皮吗", "这件外套适合胖子穿吗"),
    ],
)
def test_questions_that_only_share_a_topic_stay_apart(a: str, b: str) -> None:
    """A room's open cards share words with most new questions: sharing the product or
    the intent alone is not being the same question."""
    matcher = default_matcher()
    assert not same(matcher, a, b), (a, b, matcher.score(matcher.read(a), matcher.read(b)))


def test_a_short_question_on_the_same_product_stays_apart() -> None:
    """Was a known false merge (a short question whose one own word is unrelated read as
    covered by a longer one) until the score learned from busy-room pairs."""
    matcher = default_matcher()
    assert not same(matcher, "蛋糕是动物奶油还是植物奶油", "蛋糕可以当天做好吗")


def test_the_score_ranks_a_paraphrase_above_a_topic_neighbour() -> None:
    matcher = default_matcher()
    question = matcher.read("优惠券怎么用")
    paraphrase = matcher.score(question, matcher.read("请问优惠券怎么使用"))
    neighbour = matcher.score(question, matcher.read("会员卡怎么用"))  # the same ask, another thing
    assert 0.0 <= neighbour < matcher.threshold <= paraphrase <= 1.0


def test_the_fast_score_is_the_learned_likelihood() -> None:
    """score() skips a figure under its floor; at floor 0 it is the model, exactly."""
    from live_server.questions.matching import likelihood

    matcher = default_matcher()
    pairs = [("耳机防水吗", "耳机能戴着游泳吗"), ("耳机降噪效果怎么样", "耳机能戴着游泳吗"),
             ("优惠券怎么用", "请问优惠券怎么使用"), ("这个多少钱", "那个包包多少钱")]  # fmt: skip
    for a, b in pairs:
        ra, rb = matcher.read(a), matcher.read(b)
        full = likelihood(matcher.features(ra, rb))
        assert matcher.score(ra, rb) == pytest.approx(full, abs=1e-12), (a, b)
        floor = full + 0.01
        assert matcher.score(ra, rb, floor) < floor  # under its floor, known to be under


def test_shipped_weights_are_what_the_trainer_learns_from_dev() -> None:
    """scorer_weights.py is generated (python -m bench.questions.train_scorer --write): a
    hand edit, or a change of the features or the dev pairs without retraining, fails."""
    from bench.questions import train_scorer
    from live_server.questions import scorer_weights

    model = train_scorer.shipped_model(train_scorer.examples())
    assert model.bias == pytest.approx(scorer_weights.BIAS, abs=1e-9)
    assert list(model.weights) == pytest.approx(scorer_weights.WEIGHTS, abs=1e-9)
    assert list(model.mean) == pytest.approx(scorer_weights.MEAN, abs=1e-9)
    assert list(model.scale) == pytest.approx(scorer_weights.SCALE, abs=1e-9)


def test_near_words_merge_a_paraphrase_in_other_words() -> None:
    """The near-word table (distilled from a sentence encoder) matches words no vocabulary
    lists: 碎屏 / 屏幕. Without it the pair stays apart."""
    a, b = "屏幕碎了保修吗", "屏幕摔坏了在保修范围内吗"
    with_table, without = default_matcher(), Matcher(retail_lexicon(), near={})
    assert same(with_table, a, b)
    assert not same(without, a, b)
    ra, rb = with_table.read(a), with_table.read(b)
    assert with_table.features(ra, rb)[FEATURES.index("near")] > 0


def test_near_words_do_not_override_a_guard() -> None:
    """An encoder places opposites near each other (显白 / 显黑, 现货 / 缺货): near words
    raise a score, and the opposite guard still keeps such a pair apart."""
    matcher = default_matcher()
    for a, b, x, y in [("这支口红显白吗", "这支口红显黑吗", "显白", "显黑"),
                       ("还有现货吗", "是不是缺货了", "现货", "缺货")]:  # fmt: skip
        assert y in near_words()[x]
        ra, rb = matcher.read(a), matcher.read(b)
        assert matcher.features(ra, rb)[FEATURES.index("near")] > 0
        assert matcher.apart(ra, rb) == "opposite" and not matcher.same(ra, rb)


def test_near_word_table_was_built_from_the_shipped_vocabulary() -> None:
    """near-words.json.gz is generated from the generic vocabulary's readings
    (python -m bench.questions.build_near_words): a vocabulary change without a rebuild
    leaves labels the table does not know, and fails here."""
    data = json.loads(gzip.decompress(NEAR_WORDS_PATH.read_bytes()))
    assert data["lexicon"] == lexicon_digest()
    table = near_words()
    assert len(table) > 50_000
    assert all(a in table.get(b, ()) for a, bs in list(table.items())[:2000] for b in bs)


def test_a_brand_lexicon_teaches_its_words() -> None:
    generic, brand = default_matcher(), Matcher(retail_lexicon().merged(COSMETICS))
    # common products and skin types, in both languages, are generic vocabulary ...
    assert same(generic, "这个粉底液适合油皮吗", "foundation适合oily skin吗")
    # ... a brand's own product names are not
    pair = ("小棕瓶多少钱", "advanced night repair多少钱")
    assert not same(generic, *pair)
    assert same(brand, *pair)
    # and a product name is one thing: another product is another question
    assert not same(brand, "水光精华多少钱", "玻尿酸面霜多少钱")


def test_index_finds_the_card_of_the_same_question_in_its_lane() -> None:
    index = DedupIndex(Matcher(retail_lexicon().merged(Lexicon(products=("流心月饼",)))))
    index.add("q.r.1", LANE_OPEN, "流心月饼多少钱")
    index.add("q.r.2", LANE_OPEN, "8寸蛋糕多少钱")
    index.add("q.r.3", LANE_HELD, "加微信 流心月饼多少钱")
    assert index.best_match(index.read("流心月饼什么价格？"), LANE_OPEN) == "q.r.1"
    assert index.best_match(index.read("6寸蛋糕多少钱"), LANE_OPEN) is None
    assert index.best_match(index.read("加微信 流心月饼多少钱"), LANE_HELD) == "q.r.3"
    index.remove("q.r.1")
    assert index.best_match(index.read("流心月饼什么价格？"), LANE_OPEN) is None
    rebuilt = index.rebuilt(default_matcher())
    assert set(rebuilt.cards) == {"q.r.2", "q.r.3"} and rebuilt.length == index.length
    index.remove("q.r.2")
    index.remove("q.r.3")
    # a removed card leaves nothing behind: no word or character key of a card still posted
    assert not any(index._postings.values()) and not any(index._keys.values())


def test_a_room_offers_every_card_the_score_would_merge() -> None:
    """A card is merged only if the room's index offers it as a candidate: for every dev
    pair, a room whose one card is A decides B as the pairwise score does. Without the
    character keys, 15 duplicates sharing only a bigram or a contained word (生吐司 /
    吐司, 弹力 / 弹) were never candidates."""
    differ = []
    for vertical in ("bakery", "cosmetics", "apparel", "electronics"):
        matcher = Matcher(retail_lexicon().merged(brand_lexicon(vertical)))
        for row in load("dev", vertical):
            a, b = matcher.read(str(row["a"])), matcher.read(str(row["b"]))
            index = DedupIndex(matcher)
            index.add("a", LANE_OPEN, str(row["a"]), a)
            if (index.best_match(b, LANE_OPEN) == "a") != matcher.same(b, a):  # b arrives
                differ.append((row["a"], row["b"]))
    assert differ == []


def test_lexicon_file_shape_round_trips() -> None:
    data = {"synonyms": [["尺码", "size"]], "products": ["星耀X5"], "antonyms": [["偏大", "偏小"]]}
    lexicon = Lexicon.from_json(json.loads(json.dumps(data)))
    assert lexicon.synonyms == (("尺码", "size"),) and lexicon.antonyms == (("偏大", "偏小"),)


def test_quality_floor_on_the_dev_split() -> None:
    """A regression floor on the split the matcher was tuned on (the frozen test split is
    only reported, by bench/questions/eval_dedup.py)."""
    for vertical in ("bakery", "cosmetics", "apparel", "electronics"):
        matcher = Matcher(retail_lexicon().merged(brand_lexicon(vertical)))
        rows = load("dev", vertical)
        result = scores([
            (same(matcher, str(r["a"]), str(r["b"])), bool(r["duplicate"])) for r in rows
        ])  # fmt: skip
        assert result["precision"] >= 0.75 and result["recall"] >= 0.6, (vertical, result)


def test_eval_sets_are_where_the_bench_reads_them() -> None:
    sets = Path(__file__).resolve().parents[3] / "bench" / "questions" / "eval_sets"
    assert sum(1 for _ in (sets / "test").glob("*.jsonl")) == 4


def test_reading_keeps_no_scraps_that_two_questions_would_share() -> None:
    """This / that and its measure word (这支, 那双), how-long words (多久) and an English
    contraction (it's) are no content: two questions sharing only those share nothing."""
    matcher = default_matcher()
    assert set(matcher.read("这支口红显白吗").words) == {"§口红", "§显白"}
    assert set(matcher.read("那双鞋子磨脚吗").words) == {"§鞋子", "§磨脚"}
    assert set(matcher.read("it's waterproof, isn't it?").words) == {"§防水"}
    charge, battery = matcher.read("手表充电要多久"), matcher.read("手表续航多久")
    assert "多久" not in charge.words and not matcher.same(charge, battery)


def test_a_negated_request_after_can_i_stays_apart() -> None:
    """可以不放 asks for none, 可以多放 for more: 可以不 is a question word only at the end."""
    matcher = default_matcher()
    a, b = matcher.read("面包可以不放葡萄干吗"), matcher.read("面包可以多放点葡萄干吗")
    assert matcher.apart(a, b) == "negation"


def test_still_have_asks_for_stock() -> None:
    """还有吗 and 还有货不 ask the same (in stock?): 还有 is no action of its own."""
    matcher = default_matcher()
    assert same(matcher, "抹茶蛋糕还有吗", "抹茶蛋糕还有货不")


def test_no_vocabulary_surface_hides_a_time_or_a_question_word() -> None:
    """A time word made a concept would escape the time guard, a question word never
    matches (the intent reads it first): the shipped vocabulary has neither, and a brand's
    lexicon that lists one does not change what the matcher reads."""
    folder = Path(__file__).resolve().parents[3] / "live_server" / "questions" / "lexicons"
    for name in RETAIL_LEXICONS:
        groups = json.loads((folder / name).read_text(encoding="utf-8"))["synonyms"]
        hidden = [(g[0], s, why) for g in groups for s in g if (why := hidden_by(s))]
        assert hidden == [], (name, hidden)
    brand = Matcher(retail_lexicon().merged(Lexicon(synonyms=(("今天", "明天", "当天"),))))
    today, tomorrow = brand.read("今天能送到吗"), brand.read("明天能送到吗")
    assert brand.apart(today, tomorrow) == "time"


def test_a_vocabulary_patch_names_what_exists_and_applies_each_kind() -> None:
    """bench/questions/patch_vocabulary.py: an audit's corrections, all or nothing."""

    def files() -> dict[str, dict[str, list[list[str]]]]:
        return {
            "a.json": {"synonyms": [["签收", "收到", "送到"], ["门店", "店铺", "store"]],
                       "antonyms": [["开门", "关门"]]},
            "b.json": {"synonyms": [["配送", "送货"], ["防晒", "防uv"], ["防紫外线", "uv"]],
                       "antonyms": []},
        }  # fmt: skip

    patched = files()
    log = apply(patched, {
        "remove": [["门店", "store", "how to store it"]],
        "move": [["送到", "签收", "配送", "能送到浦东吗 asks for delivery"]],
        "merge": [["防晒", "防紫外线", "one concept"]],
        "remove_antonyms": [["关门", "开门", "wrong"]],
    })  # fmt: skip
    assert len(log) == 4
    assert patched["a.json"]["synonyms"] == [["签收", "收到"], ["门店", "店铺"]]
    assert patched["b.json"]["synonyms"] == [["配送", "送货", "送到"], ["防晒", "防uv"],
                                             ["防晒", "防紫外线", "uv"]]  # fmt: skip
    assert patched["a.json"]["antonyms"] == []
    for wrong in ({"remove": [["门店", "shop", ""]]}, {"move": [["送到", "配送", "签收", ""]]},
                  {"merge": [["防晒", "nothing", ""]]},
                  {"remove_antonyms": [["a", "b", ""]]}):  # fmt: skip
        with pytest.raises(SystemExit):
            apply(files(), wrong)
