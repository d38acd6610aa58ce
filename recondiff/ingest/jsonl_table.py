"""A JSON Lines export as a table: one object per line, keys as columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from recondiff.errors import InputError
from recondiff.ingest.columns import STRING, STRING_LIST, Columns, check_unique, multi_valued
from recondiff.ingest.ldif import text_lines
from recondiff.ingest.snapshot import ReadOptions


class _Number(str):
    """A JSON number, kept as the text it was written with."""


class _Object(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, in order, duplicates kept."""


_DECODER = json.JSONDecoder(
    parse_int=_Number, parse_float=_Number, parse_constant=_Number, object_pairs_hook=_Object
)

_JSON_KIND = {str: "a string", list: "an array", bool: "a boolean", type(None): "null"}


def read_jsonl_table(path: Path, options: ReadOptions) -> pa.Table:
    """Read JSON Lines: one object per line; blank lines ignored.

    A column is ``list<string>`` when any row holds an array there or it is in
    ``multi_valued``; array elements that are null are dropped. Nested objects
    become their JSON text.
    """
    columns = Columns()
    for number, text in text_lines(path):
        if not text.strip():
            continue
        parsed = _parse_object(path, number, text)
        check_unique(path, [key for key, _ in parsed], f"line {number}: keys: ")
        for name, value in parsed:
            key = columns.column(name)
            if isinstance(value, list) and not isinstance(value, _Object):
                columns.is_list[key] = True
                cells = (_json_scalar(item) for item in value)
                columns.put(key, [cell for cell in cells if cell is not None])
            else:
                columns.put(key, _json_scalar(value))
        columns.rows += 1
    return columns.table(multi_valued(options), _array)


def _parse_object(path: Path, number: int, text: str) -> _Object:
    """One line parsed as a JSON object, or the one-line InputError saying why not."""
    try:
        parsed = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: line {number}: JSON nested too deeply") from None
    if "\\u" in text and _lone_surrogate(parsed):
        raise InputError(
            f"{path}: line {number}: a \\u escape is half of a UTF-16 surrogate pair, "
            "which is no character; fix the export (write the pair, or the character)"
        )
    if not isinstance(parsed, _Object):
        kind = "a number" if isinstance(parsed, _Number) else _JSON_KIND[type(parsed)]
        raise InputError(
            f"{path}: line {number}: {kind}, not an object; JSON Lines needs one "
            "JSON object per line"
        )
    return parsed


def _array(values: list[Any], as_list: bool) -> pa.Array:
    """One column: as lists (a lone value a one-element list, empty ones dropped) or as is."""
    if as_list:
        return pa.array(
            [
                None
                if v is None
                else [x for x in v if x != ""]
                if isinstance(v, list)
                else ([v] if v != "" else [])
                for v in values
            ],
            STRING_LIST,
        )
    return pa.array(values, STRING)


def _json_text(value: Any) -> str:
    """Serialise a parsed value back to compact JSON, numbers as written."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, _Object):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value)
        return "{" + ",".join(items) + "}"
    return "[" + ",".join(_json_text(v) for v in value) + "]"


def _lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate (``"\\ud83d"`` alone), which
    Python's json accepts and no UTF-8 text (nor the snapshot) can hold."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, (list, tuple)):
        return any(_lone_surrogate(item) for item in value)
    return False


def _json_scalar(value: Any) -> str | None:
    """A JSON value as a cell: strings as is, numbers/bools as JSON text, null as null."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_text(value)
