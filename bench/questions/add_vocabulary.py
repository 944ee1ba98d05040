"""Add a batch of generic retail vocabulary as a new shipped lexicon file, filtered.

    python -m bench.questions.add_vocabulary BATCH.json NAME.json [--drop SURFACE ...]

A batch (``{"synonyms": [[surface, ...], ...], "antonyms": [[a, b], ...]}``) is written
by a writer who reads only the shipped lexicon files, never the evaluation pairs. A
group whose first surface is an existing concept's adds to that concept. What a surface
must not be, filtered here rather than trusted to the writer:

* a time word or phrase, a question word, a filler, an English stop word, a light verb
  or a bare negation: the matcher reads those itself (a concept 今天 would switch off the
  time guard, a concept holding 多少 would never match);
* an ingredient or attribute named free of (nut-free, no sugar, without alcohol) under a
  concept that is not itself a "free of" one: the matcher reads the negation of nut-free
  itself, as a surface it would hide it;
* a surface another file already has (the first file wins when loading: listing it twice
  is a no-op or, worse, a silent conflict).

The file is written to ``live_server/questions/lexicons/NAME``; add it to
``RETAIL_LEXICONS`` (``live_server/questions/dedup.py``), then rebuild the near-word table
and retrain the score (``build_near_words``, ``train_scorer --write``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from live_server.questions import matching
from live_server.questions.dedup import RETAIL_LEXICONS
from live_server.questions.matching import normalise

LEXICONS = Path(__file__).parents[2] / "live_server" / "questions" / "lexicons"
_FREE_OF = re.compile(r"-free$| free$|^no |^non-|^non |^without |^无|^不含|^零")
_READ_ITSELF = re.compile(
    "|".join(p.pattern for p in (matching._QUESTION_WORDS, matching._TIME_PHRASE))
)


def refused(surface: str, concept: str) -> str | None:
    """Why ``surface`` cannot be a surface of ``concept``, or None."""
    key = normalise(surface)
    if not key:
        return "no text"
    if (
        key in matching._TIME_WORDS or key in matching._FILLERS_ZH or key in matching._STOP_EN
        or key in matching._LIGHT_VERBS or key in matching._NEGATIONS_ZH
    ):  # fmt: skip
        return "a word the matcher reads itself"
    if _READ_ITSELF.search(key):
        return "holds a time or question word"
    if _FREE_OF.search(key) and not _FREE_OF.search(normalise(concept)):
        return "names a thing by its absence"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("batch", type=Path)
    parser.add_argument("name", help="the new file's name, e.g. retail-attributes.json")
    parser.add_argument("--drop", nargs="*", default=[], help="surfaces refused on review")
    args = parser.parse_args()
    known = {
        normalise(s)
        for name in RETAIL_LEXICONS
        if name != args.name
        for g in json.loads((LEXICONS / name).read_text(encoding="utf-8"))["synonyms"]
        for s in g
    }
    canonicals = {
        g[0]
        for name in RETAIL_LEXICONS
        if name != args.name
        for g in json.loads((LEXICONS / name).read_text(encoding="utf-8"))["synonyms"]
    }
    drop = {normalise(s) for s in args.drop}
    batch = json.loads(args.batch.read_text(encoding="utf-8"))
    groups: list[list[str]] = []
    dropped: list[tuple[str, str]] = []
    for group in batch["synonyms"]:
        head, rest = group[0], group[1:]
        if head not in canonicals:  # a new concept: its name must be free and readable
            why = refused(head, head) or ("already in the vocabulary"
                                          if normalise(head) in known else None)  # fmt: skip
            if why is not None or normalise(head) in drop:
                dropped.append((f"{head} (the whole group)", why or "refused on review"))
                continue
            known.add(normalise(head))
        keep: list[str] = []
        for surface in rest:
            why = "refused on review" if normalise(surface) in drop else refused(surface, head)
            if why is None and normalise(surface) in known:
                why = "already in the vocabulary"
            if why is None:
                keep.append(surface)
                known.add(normalise(surface))
            else:
                dropped.append((surface, why))
        if keep:
            groups.append([head, *keep])
    surfaces = {normalise(s) for g in groups for s in g} | known
    antonyms = [
        pair for pair in batch.get("antonyms", [])
        if all(normalise(x) in surfaces and refused(x, x) is None for x in pair)
    ]  # fmt: skip
    out = {"synonyms": groups, "antonyms": antonyms}
    (LEXICONS / args.name).write_text(json.dumps(out, ensure_ascii=False, indent=1), "utf-8")
    print(f"{len(groups)} groups, {sum(len(g) - 1 for g in groups)} surfaces, "
          f"{len(antonyms)} antonym pairs -> {args.name}")  # fmt: skip
    for surface, why in dropped:
        print(f"  dropped {surface!r}: {why}")


if __name__ == "__main__":
    main()
