"""Merging questions into cards: each room's open cards, searchable, and the matcher of
its brand (``matching.py``: what "the same question" means).

A :class:`DedupIndex` mirrors one room's card list (``keys.question_index``): each card's
reading, bucketed by lane ("open" questions and "held" spam never merge), with an
inverted index from content words to cards, so a new question is compared with the few
cards that share a word with it, not with every card of the room.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import defaultdict
from collections.abc import Iterable
from importlib import resources
from operator import itemgetter

from live_server.questions.matching import Lexicon, Matcher, Reading, search_keys

__all__ = [
    "DedupIndex",
    "Lexicon",
    "Matcher",
    "Reading",
    "default_matcher",
    "lexicon_digest",
    "retail_lexicon",
]


RETAIL_LEXICONS = (
    "retail.json",
    "retail-extra.json",
    "retail-frames.json",
    "retail-english.json",
    "retail-attributes.json",
)
"""The generic vocabulary: store services (``retail.json``), then products, attributes,
payment and after-sales words of many retail verticals (``retail-extra.json``), then the
many ways shoppers phrase a question's predicate (``retail-frames.json``: 寄出 / 发货,
到手 / 签收, 丢洗衣机 / 机洗), then English phrasings of the same concepts
(``retail-english.json``: shrink / get smaller, dispatch / send out), then how shoppers
name attributes, fit and specs (``retail-attributes.json``: 偏大 / comes up big, 闷痘 /
长闭口); the last four written by helper sessions from general retail language, without
reading the evaluation sets (``bench/questions/add_vocabulary.py``,
``patch_vocabulary.py``). A group whose first surface is another file's canonical adds
surfaces to that concept."""


def _retail_files() -> list[str]:
    folder = resources.files("live_server.questions").joinpath("lexicons")
    return [folder.joinpath(name).read_text(encoding="utf-8") for name in RETAIL_LEXICONS]


def retail_lexicon() -> Lexicon:
    """The generic retail vocabulary every brand starts from (shipped with the package)."""
    lexicon = Lexicon()
    for data in _retail_files():
        lexicon = lexicon.merged(Lexicon.from_json(json.loads(data)))
    return lexicon


def lexicon_digest() -> str:
    """A digest of the generic vocabulary: the near-word table records the one it was
    built with (``bench/questions/build_near_words.py``)."""
    digest = hashlib.sha256()
    for data in _retail_files():
        digest.update(data.encode())
    return digest.hexdigest()[:16]


COMMON_SHARE = 0.2
"""A word on more than this share of the room's cards finds no candidates by itself."""
COMMON_MIN = 50

_DEFAULT: Matcher | None = None


def default_matcher() -> Matcher:
    """A matcher with the generic retail vocabulary only (a brand without a lexicon)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Matcher(retail_lexicon())
    return _DEFAULT


KEY_WEIGHT = 0.3
"""What a shared character key adds to a card's candidate weight (a shared word: its weight)."""
KEY_SHARE = 0.02
"""A character key on more than this share of the room's cards finds no candidates."""


class DedupIndex:
    """The cards of one room, searchable by shared words and characters."""

    MAX_CANDIDATES = 40

    def __init__(self, matcher: Matcher | None = None) -> None:
        self.matcher = matcher or default_matcher()
        self.cards: dict[str, tuple[str, str, Reading]] = {}  # id -> (lane, text, reading)
        self._postings: dict[str, dict[str, set[str]]] = {}  # lane -> word -> card ids
        self._keys: dict[str, dict[str, set[str]]] = {}  # lane -> character key -> card ids
        self.length = 0  # entries of the room's Redis index list already applied

    def read(self, text: str) -> Reading:
        return self.matcher.read(text)

    def add(self, card_id: str, lane: str, text: str, reading: Reading | None = None) -> None:
        reading = reading or self.matcher.read(text)
        self.cards[card_id] = (lane, text, reading)
        postings = self._postings.setdefault(lane, {})
        for word in reading.words:
            postings.setdefault(word, set()).add(card_id)
        keys = self._keys.setdefault(lane, {})
        for key in search_keys(reading):
            keys.setdefault(key, set()).add(card_id)

    def remove(self, card_id: str) -> None:
        """Forget a card (split off or merged away by the host)."""
        entry = self.cards.pop(card_id, None)
        if entry is None:
            return
        lane, _text, reading = entry
        for table, found in ((self._postings.get(lane, {}), reading.words),
                             (self._keys.get(lane, {}), search_keys(reading))):  # fmt: skip
            for word in found:
                ids = table.get(word)
                if ids is not None:
                    ids.discard(card_id)
                    if not ids:
                        del table[word]

    def best_match(self, reading: Reading, lane: str) -> str | None:
        """The most similar card of ``lane`` that is the same question, if any."""
        best = self.nearest(reading, lane, self.matcher.threshold)
        return best[1] if best else None

    def match_or_suggestion(self, reading: Reading, lane: str) -> tuple[str | None, str | None]:
        """In one pass over the candidates: (the card of the same question, None), or else
        (None, the closest card reaching the matcher's suggestion floor: a merge the host
        may want, ``similar_to``), or (None, None)."""
        best = self.nearest(reading, lane, self.matcher.suggest)
        if best is None:
            return None, None
        return (best[1], None) if best[0] >= self.matcher.threshold else (None, best[1])

    def nearest(self, reading: Reading, lane: str, floor: float) -> tuple[float, str] | None:
        """(score, card id) of the best card of ``lane`` that no guard keeps apart and that
        scores at least ``floor``, if any.

        Candidates are the cards sharing the most word weight with the question; a word
        that most of the room's cards share (the brand's store word, say) finds none on its
        own, so the comparison stays bounded by MAX_CANDIDATES however many cards are open.
        """
        postings = self._postings.get(lane)
        if not postings:
            return None
        common = max(COMMON_MIN, int(len(self.cards) * COMMON_SHARE))
        shared: defaultdict[str, float] = defaultdict(float)
        for word, weight in reading.words.items():
            ids = postings.get(word)
            if not ids or len(ids) > common:
                continue
            for card_id in ids:
                shared[card_id] += weight
        keys = self._keys.get(lane, {})
        rare = max(COMMON_MIN, int(len(self.cards) * KEY_SHARE))
        for key in search_keys(reading):
            ids = keys.get(key)
            if not ids or len(ids) > rare:
                continue
            for card_id in ids:
                shared[card_id] += KEY_WEIGHT
        if not shared:
            return None
        if len(shared) > self.MAX_CANDIDATES:
            ranked = heapq.nlargest(self.MAX_CANDIDATES, shared.items(), key=itemgetter(1))
        else:
            ranked = list(shared.items())
        matcher = self.matcher
        best: tuple[float, str] | None = None
        for card_id, _weight in ranked:
            other = self.cards[card_id][2]
            if matcher.apart(reading, other) is not None:  # the guards: cheaper than a score
                continue
            # a card under the best so far cannot win: its score stops early
            bar = floor if best is None else max(floor, best[0])
            score = matcher.score(reading, other, bar)
            if score < bar:
                continue
            if best is None or score > best[0] or (score == best[0] and card_id < best[1]):
                best = (score, card_id)
        return best

    def apply(
        self, start: int, entries: Iterable[tuple[str, str, str]], reading: Reading | None = None
    ) -> None:
        """Apply entries of the room's index list read from position ``start``; those
        already applied (by a concurrent reader in this process) are skipped."""
        for position, (card_id, lane, text) in enumerate(entries, start):
            if position == self.length:
                self.add(card_id, lane, text, reading)
                self.length += 1

    def rebuilt(self, matcher: Matcher) -> DedupIndex:
        """The same cards read again by another matcher (the brand's lexicon changed)."""
        index = DedupIndex(matcher)
        for card_id, (lane, text, _reading) in self.cards.items():
            index.add(card_id, lane, text)
        index.length = self.length
        return index
