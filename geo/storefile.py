"""Store files (a JSON list, CSV or GeoJSON) read into plain rows, one dict per store.

Pure parsing, no validation of what a store must hold (the stores domain does that): CSV
cells and GeoJSON properties become the same row shape, GeoJSON points give ``lat`` and
``lng``, opening hours written compactly (``mon-fri 08:00-21:00; sun closed``) become a
weekday -> windows mapping. A file that cannot be read at all raises
:class:`StoreFileError`; a row that cannot be read is None in the rows, with its problem.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Problem = dict[str, Any]
"""``{"row": n (1 = first store; 0 = the file), "field": name or "", "reason": text}``."""


class StoreFileError(ValueError):
    """The file as a whole cannot be read; ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0]["reason"])
        self.problems = problems


CSV_MEDIA = "text/csv"
GEOJSON_MEDIA = "application/geo+json"
JSON_MEDIA = "application/json"
MAX_ROWS = 200_000

_DAY_INDEX = {d: i for i, d in enumerate(WEEKDAYS)}
_WINDOW = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")


def parse_hours(text: str) -> dict[str, list[dict[str, str]]]:
    """Opening hours from a compact text: ``mon-fri 08:00-21:00; sat,sun 09:00-12:00,13:00-22:00``.

    Groups are separated by ``;``; each names days (``mon``, ``mon-fri``, ``sat,sun``) and one
    or more windows. ``closed`` or a missing day means closed. A JSON object is accepted too.
    """
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("hours JSON must be an object of weekday -> windows")
        return data
    hours: dict[str, list[dict[str, str]]] = {}
    for group in filter(None, (g.strip() for g in text.split(";"))):
        days_part, _, windows_part = group.partition(" ")
        days: list[str] = []
        for spec in days_part.lower().split(","):
            first, _, last = spec.partition("-")
            if first not in _DAY_INDEX or (last and last not in _DAY_INDEX):
                raise ValueError(f"unknown weekday in {spec!r}; use {', '.join(WEEKDAYS)}")
            lo, hi = _DAY_INDEX[first], _DAY_INDEX[last or first]
            if hi < lo:
                raise ValueError(f"day range {spec!r} runs backwards")
            days += WEEKDAYS[lo : hi + 1]
        windows_text = windows_part.strip()
        if windows_text.lower() == "closed":
            continue
        windows = []
        for w in filter(None, re.split(r"[,\s]+", windows_text)):
            m = _WINDOW.match(w)
            if not m:
                raise ValueError(f"opening window {w!r}: use HH:MM-HH:MM")
            windows.append({"open": m.group(1), "close": m.group(2)})
        if not windows:
            raise ValueError(f"no opening window for {days_part!r}")
        for day in days:
            hours.setdefault(day, []).extend(windows)
    return hours


def _csv_rows(raw: bytes) -> tuple[list[dict[str, Any] | None], list[dict[str, Any]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StoreFileError([{"row": 0, "field": "", "reason": f"not UTF-8 text: {exc}"}]) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
        reason = "the first line must be a header naming the columns (id, name, lat, lng, ...)"
        raise StoreFileError([{"row": 0, "field": "", "reason": reason}])
    rows: list[dict[str, Any] | None] = []
    problems: list[dict[str, Any]] = []
    for number, record in enumerate(reader, start=1):
        if None in record:  # more cells than header columns
            problems.append({
                "row": number, "field": "",
                "reason": "more cells than header columns (quote a cell holding commas)",
            })  # fmt: skip
            rows.append(None)
            continue
        row: dict[str, Any] = {}
        for column, cell in record.items():
            column = column.strip()
            value = (cell or "").strip()
            if value == "":
                continue  # an empty cell takes the default
            if column == "hours":
                try:
                    row["hours"] = parse_hours(value)
                except (ValueError, orjson.JSONDecodeError) as exc:
                    problems.append({"row": number, "field": "hours", "reason": f"hours: {exc}"})
            elif column == "services":
                row["services"] = [s.strip() for s in value.split("|") if s.strip()]
            else:
                row[column] = value
        rows.append(row)
    return rows, problems


def _geojson_rows(data: dict[str, Any]) -> tuple[list[dict[str, Any] | None], list[dict[str, Any]]]:
    if data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        reason = "expected a GeoJSON FeatureCollection with a features list"
        raise StoreFileError([{"row": 0, "field": "", "reason": reason}])
    rows: list[dict[str, Any] | None] = []
    problems: list[dict[str, Any]] = []
    for number, feature in enumerate(data["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append({"row": number, "field": "", "reason": "not a GeoJSON Feature"})
            rows.append(None)
            continue
        geometry = feature.get("geometry") or {}
        coords = geometry.get("coordinates")
        if (
            geometry.get("type") != "Point"
            or not isinstance(coords, list)
            or len(coords) < 2
            or not all(isinstance(c, int | float) for c in coords[:2])
        ):
            problems.append(
                {
                    "row": number,
                    "field": "geometry",
                    "reason": "geometry must be a Point [lng, lat]",
                }
            )
            rows.append(None)
            continue
        props = dict(feature.get("properties") or {})
        if "id" not in props and feature.get("id") is not None:
            props["id"] = str(feature["id"])
        if isinstance(props.get("services"), str):
            props["services"] = [s.strip() for s in props["services"].split("|") if s.strip()]
        if isinstance(props.get("hours"), str):
            try:
                props["hours"] = parse_hours(props["hours"])
            except (ValueError, orjson.JSONDecodeError) as exc:
                problems.append({"row": number, "field": "hours", "reason": f"hours: {exc}"})
                props.pop("hours")
        props["lng"], props["lat"] = coords[0], coords[1]  # GeoJSON order is lng, lat
        rows.append(props)
    return rows, problems


def detect_format(raw: bytes, name: str = "", content_type: str = "") -> str:
    """``json``, ``csv`` or ``geojson`` from the media type, the file name, or the content."""
    if content_type == CSV_MEDIA or name.lower().endswith(".csv"):
        return "csv"
    if content_type == GEOJSON_MEDIA or name.lower().endswith(".geojson"):
        return "geojson"
    head = raw.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "geojson"
    return "csv"


def read_rows(
    raw: bytes, name: str = "stores.json", content_type: str = ""
) -> tuple[list[Any], list[Problem]]:
    """The rows of a JSON list, a CSV file or a GeoJSON FeatureCollection, and the problems
    of rows that could not be read (those rows are None)."""
    fmt = detect_format(raw, name, content_type)
    problems: list[dict[str, Any]] = []
    rows: list[Any]
    if fmt == "csv":
        rows, problems = _csv_rows(raw)
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StoreFileError(
                [{"row": 0, "field": "", "reason": f"not valid JSON: {exc}"}]
            ) from exc
        if fmt == "geojson":
            if not isinstance(data, dict):
                raise StoreFileError(
                    [{"row": 0, "field": "", "reason": "expected a GeoJSON FeatureCollection"}]
                )
            rows, problems = _geojson_rows(data)
        else:
            if not isinstance(data, list):
                raise StoreFileError(
                    [{"row": 0, "field": "", "reason": "expected a JSON list of stores"}]
                )
            rows = data
    if not rows:
        raise StoreFileError([{"row": 0, "field": "", "reason": "the file holds no stores"}])
    if len(rows) > MAX_ROWS:
        raise StoreFileError(
            [{"row": 0, "field": "", "reason": f"at most {MAX_ROWS} stores per file"}]
        )
    return rows, problems
