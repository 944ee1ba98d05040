"""Apply a reviewed correction of the generic retail vocabulary (the shipped lexicon files).

    python -m bench.questions.patch_vocabulary PATCH.json [--dry-run]

The generic vocabulary (``live_server/questions/lexicons/retail*.json``) is written in
batches by writers who read only the files themselves, never the evaluation pairs; an
audit of it comes as a patch, each entry with its reason::

    {"remove": [[concept, surface, reason], ...],          # a surface out of a concept
     "move": [[surface, from_concept, to_concept, reason], ...],
     "merge": [[kept_concept, absorbed_concept, reason], ...],
     "remove_antonyms": [[a, b, reason], ...]}

A concept is named by its groups' first surface (groups in different files with the same
first surface are one concept). Every entry must name what exists: the script stops on
the first that does not, and writes nothing. After a patch the near-word table must be
rebuilt and the score retrained (``build_near_words``, then ``train_scorer --write``): a
test ties the table to the vocabulary it was built from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from live_server.questions.dedup import RETAIL_LEXICONS

LEXICONS = Path(__file__).parents[2] / "live_server" / "questions" / "lexicons"

Files = dict[str, dict[str, list[list[str]]]]


def _groups(files: Files, concept: str) -> list[list[str]]:
    found = [g for data in files.values() for g in data["synonyms"] if g[0] == concept]
    if not found:
        raise SystemExit(f"no concept {concept!r} in the vocabulary")
    return found


def _take(files: Files, concept: str, surface: str) -> str:
    """Remove ``surface`` from ``concept``; the file it was in."""
    if surface == concept:
        raise SystemExit(f"{surface!r} names its concept: merge or rename instead")
    for name, data in files.items():
        for group in data["synonyms"]:
            if group[0] == concept and surface in group:
                group.remove(surface)
                return name
    raise SystemExit(f"{surface!r} is not a surface of {concept!r}")


def apply(files: Files, patch: dict[str, list[list[str]]]) -> list[str]:
    """Apply ``patch`` to ``files`` in place; one line per change."""
    log: list[str] = []
    for concept, surface, *_ in patch.get("remove", []):
        _take(files, concept, surface)
        log.append(f"removed {surface!r} from {concept!r}")
    for surface, source, target, *_ in patch.get("move", []):
        _take(files, source, surface)
        group = _groups(files, target)[0]
        if surface not in group:
            group.append(surface)
        log.append(f"moved {surface!r} from {source!r} to {target!r}")
    for kept, absorbed, *_ in patch.get("merge", []):
        _groups(files, kept)
        for group in _groups(files, absorbed):
            rest = [s for s in group if s != kept]
            group[:] = [kept, *dict.fromkeys(rest)]
        log.append(f"merged {absorbed!r} into {kept!r}")
    for a, b, *_ in patch.get("remove_antonyms", []):
        pair = {a, b}
        before = sum(len(d["antonyms"]) for d in files.values())
        for data in files.values():
            data["antonyms"] = [p for p in data["antonyms"] if set(p) != pair]
        if sum(len(d["antonyms"]) for d in files.values()) == before:
            raise SystemExit(f"no antonym pair {a!r} / {b!r}")
        log.append(f"removed the antonyms {a!r} / {b!r}")
    for data in files.values():  # a group left with its name only is no synonym group
        data["synonyms"] = [g for g in data["synonyms"] if len(g) >= 2]
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("patch", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="print the changes only")
    args = parser.parse_args()
    files: Files = {
        name: json.loads((LEXICONS / name).read_text(encoding="utf-8")) for name in RETAIL_LEXICONS
    }
    patch: dict[str, Any] = json.loads(args.patch.read_text(encoding="utf-8"))
    for line in apply(files, patch):
        print(line)
    if not args.dry_run:
        for name, data in files.items():
            text = json.dumps(data, ensure_ascii=False, indent=1)  # as the files are written
            (LEXICONS / name).write_text(text, encoding="utf-8")
        print(f"wrote {len(files)} files; now rebuild the near words and retrain the score")


if __name__ == "__main__":
    main()
