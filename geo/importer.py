"""Parse a store file (JSON list, CSV or GeoJSON) into validated stores, all or nothing."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from live_server.errors import ValidationFailed

from .models import Store


class StoreFileInvalid(ValidationFailed):
    """A store file was refused whole; ``problems`` lists row numbers and reasons."""

    title, slug = "Store file refused", "store-file-invalid"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0]
        super().__init__(
            f"{len(problems)} invalid row(s), nothing applied; row {first['row']}: {first['reason']}",
            problems=problems,
        )
        self.problems = problems


def validate_rows(rows: list[dict[str, Any]]) -> list[Store]:
    stores: list[Store] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        try:
            store = Store.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append({"row": number, "field": where, "reason": f"{where}: {err['msg']}"})
            continue
        if store.id in seen:
            problems.append({"row": number, "field": "id", "reason": f"duplicate id {store.id!r}"})
        seen.add(store.id)
        stores.append(store)
    if problems:
        raise StoreFileInvalid(problems)
    return stores


def parse_store_file(raw: bytes, name: str = "stores.json") -> list[Store]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreFileInvalid([{"row": 0, "field": "", "reason": f"not valid JSON: {exc}"}]) from exc
    if not isinstance(data, list):
        raise StoreFileInvalid([{"row": 0, "field": "", "reason": "expected a JSON list of stores"}])
    return validate_rows(data)
