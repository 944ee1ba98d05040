"""Pure questions domain: signatures, moderation, ranking, ids, configuration, dedup quality."""

from __future__ import annotations

import time

import pytest

from live_server.questions.models import (
    LANE_HELD,
    LANE_OPEN,
    QuestionConfig,
    QuestionNotFound,
    QuestionRejected,
    Rate,
    SignatureInvalid,
    moderate,
    parse_question_id,
    question_id,
    rank_score,
    sign,
    verify_signature,
)


def test_signature_scheme_matches_the_design() -> None:
    import hashlib
    import hmac

    body, ts = b'{"message_id":"1"}', "1700000000"
    expected = "sha256=" + hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", ts, body) == expected
    verify_signature("s3cret", ts, expected.upper().replace("SHA256=", "sha256="), body, 1700000100)
    for bad_ts, bad_sig, now in [
        (ts, expected, 1700000301), (None, expected, 1700000000), (ts, None, 1700000000),
        ("soon", expected, 1700000000), (ts, "sha256=00", 1700000000),
        (ts, sign("s3cret", ts, body + b" "), 1700000000),
    ]:  # fmt: skip
        with pytest.raises(SignatureInvalid):
            verify_signature("s3cret", bad_ts, bad_sig, body, now)


def test_moderation() -> None:
    config = QuestionConfig(blocklist=("badword", "傻瓜"))
    assert moderate("  月饼\n多少钱 \u200b ", config).text == "月饼 多少钱"
    assert moderate("月饼多少钱", config).lane == LANE_OPEN
    for text in ("x", "好" * 301, "you B.A.D-word", "你 傻 瓜"):
        with pytest.raises(QuestionRejected):
            moderate(text, config)
    held = [
        "加微信 abc123 领券",
        "看这里 www.example.com",
        "call 13812345678 now",
        "哈哈哈哈哈哈哈哈哈哈",
        "buy buy buy buy buy buy buy",
    ]
    for text in held:
        assert moderate(text, config).lane == LANE_HELD, text
    assert moderate("6寸和8寸哪个好？6寸够4个人吗", config).lane == LANE_OPEN


def test_ranking_weighs_askers_groups_votes_and_recency() -> None:
    now = int(time.time() * 1000)
    many_groups = rank_score(
        askers=9, votes=0, groups=5, last_asked_ms=now, now_ms=now, half_life_s=600
    )
    one_group = rank_score(
        askers=9, votes=0, groups=1, last_asked_ms=now, now_ms=now, half_life_s=600
    )
    stuffed = rank_score(
        askers=1, votes=40, groups=0, last_asked_ms=now, now_ms=now, half_life_s=600
    )
    assert many_groups > one_group > stuffed
    old = rank_score(
        askers=9, votes=0, groups=5, last_asked_ms=now - 600_000, now_ms=now, half_life_s=600
    )
    assert old == pytest.approx(many_groups / 2, rel=0.01)


def test_question_ids_name_their_room() -> None:
    qid = question_id("r_demo", 42)
    assert parse_question_id(qid) == ("r_demo", 42)
    assert parse_question_id(question_id("r.with.dots", 3)) == ("r.with.dots", 3)
    for bad in ("", "q", "q.r_demo", "x.r_demo.1", "q.r_demo.x", "q..1"):
        with pytest.raises(QuestionNotFound):
            parse_question_id(bad)


def test_config_from_settings_and_env() -> None:
    config = QuestionConfig.from_settings(
        {"questions.author_rate": "3/10", "blocklist": "Foo Bar, 坏词"},
        {"LIVE_Q_WEBHOOK_MAX_ATTEMPTS": "4", "LIVE_Q_WEBHOOK_BACKOFF_S": "0.5"},
    )
    assert config.author_rate == Rate(3, 10.0) and config.blocklist == ("foobar", "坏词")
    assert config.webhook_max_attempts == 4
    assert [config.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert QuestionConfig.from_settings({}, {"LIVE_BLOCKLIST": "x1"}).blocklist == ("x1",)
