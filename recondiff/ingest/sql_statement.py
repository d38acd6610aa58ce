"""The operator's query for an identity database: held to one statement that
reads (docs/explore.md, "An identity database").

:func:`one_statement` scans the text as PostgreSQL's lexer does (quotes, quoted
names, dollar quotes, nested comments) and refuses a ``;`` followed by anything
but comments, and a statement that does not begin with SELECT, WITH, VALUES or
TABLE. It is the first of the guards (recondiff/ingest/sql_read.py): the server
refuses several commands in a prepared statement too, and runs the query in a
READ ONLY transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from recondiff.errors import InputError

_FIRST_WORDS = ("select", "with", "values", "table")
WHERE = "[repository.source] query"


def one_statement(query: str, source: str = "") -> str:
    """The query without a trailing ``;`` and trailing comments, or InputError
    when it is not one statement beginning with SELECT, WITH, VALUES or TABLE."""
    at = f"{source}: " if source else ""
    if "\x00" in query:
        raise InputError(
            f"{at}the query holds a NUL character (at character {query.index(chr(0)) + 1}), "
            f"which would end it early for the server; remove it ({WHERE})"
        )
    end = 0  # just past the last character that is neither space, comment nor ';'
    for kind, start, stop in _tokens(query, at):
        if kind == ";":
            if any(k == "text" for k, _, _ in _tokens(query[stop:], at)):
                raise InputError(
                    f"{at}the query holds more than one statement (a ';' at character "
                    f"{start + 1}); give one SELECT ({WHERE})"
                )
            break
        if kind == "text":
            end = stop
    body = query[:end]
    first = re.match(r"[\s(]*([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)",
                     _blank_comments(body, at))  # fmt: skip
    if first is None or first.group(1).lower() not in _FIRST_WORDS:
        word = first.group(1) if first else "nothing"
        raise InputError(
            f"{at}the query begins with {word}; give one SELECT (or WITH, VALUES, TABLE) "
            f"that returns the identities ({WHERE})"
        )
    return body


# PostgreSQL's lexer (scan.l): a name, and a dollar quote's tag, take any byte
# from 0x80 (here: any character past ASCII); a name also takes '$' and digits.
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]")
_NEWLINE = re.compile(r"[\n\r]")  # a -- comment ends at either
_SPACE = " \t\n\r\f\v"  # PostgreSQL's white space (not Python's isspace: no U+00A0)


def _tokens(text: str, at: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, stop) of every token that matters here: ``;``, ``text``
    (anything else, quoted strings and names included), ``comment``."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        start = i
        if text.startswith("--", i):
            found = _NEWLINE.search(text, i)
            i = n if found is None else found.end()
            yield "comment", start, i
            continue
        if text.startswith("/*", i):
            i = _comment_end(text, i, at)
            yield "comment", start, i
            continue
        if ch == ";":
            i += 1
            yield ";", start, i
            continue
        i = _text_end(text, i, at)
        yield "text", start, i


def _text_end(text: str, i: int, at: str) -> int:
    """Past one quoted string, quoted name, dollar-quoted string or other character."""
    ch = text[i]
    after_word = i > 0 and _WORD_CHAR.match(text[i - 1]) is not None
    if ch == "'":
        backslash = i > 0 and text[i - 1] in "eE" and not (
            i > 1 and _WORD_CHAR.match(text[i - 2])
        )
        return _quoted_end(text, i, "'", backslash, at)
    if ch == '"':
        return _quoted_end(text, i, '"', False, at)
    if ch == "$" and not after_word:
        tag = _DOLLAR.match(text, i)
        if tag is not None:
            close = text.find(tag.group(0), tag.end())
            if close < 0:
                raise _unterminated(at, "dollar-quoted string", i)
            return close + len(tag.group(0))
    return i + 1


def _quoted_end(text: str, i: int, quote_char: str, backslash: bool, at: str) -> int:
    j = i + 1
    while j < len(text):
        if backslash and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote_char:
            if text.startswith(quote_char * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    raise _unterminated(at, "quoted string" if quote_char == "'" else "quoted name", i)


def _comment_end(text: str, i: int, at: str) -> int:
    depth, j = 0, i
    while j < len(text):
        if text.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    raise _unterminated(at, "comment", i)


def _unterminated(at: str, what: str, i: int) -> InputError:
    return InputError(f"{at}the query has an unterminated {what} at character {i + 1} ({WHERE})")


def _blank_comments(text: str, at: str) -> str:
    """``text`` with its comments as spaces (to find the first word)."""
    parts, last = [], 0
    for kind, start, stop in _tokens(text, at):
        if kind == "comment":
            parts += [text[last:start], " "]
            last = stop
    return "".join([*parts, text[last:]])


NESTED = "recondiff nested array"
"""The name of the column :func:`with_dimension_check` adds (read by position)."""


def with_dimension_check(body: str, names: list[str], arrays: list[int]) -> str:
    """``body`` read as ``SELECT q.*, CASE ... END FROM (body) AS q``: one more
    column, last, holding the position (from 1) of the row's first array column
    at ``arrays`` (positions from 0 in ``names``, the result's column names)
    with more than one dimension, NULL when none. The driver flattens nested
    arrays ({{a,b},{c,d}} arrives as [a,b,c,d]) and tells nothing of their
    dimensions: this is how recondiff refuses them."""
    cases = " ".join(
        f"WHEN pg_catalog.array_ndims(q.{_quoted(names[i])}) OPERATOR(pg_catalog.>) 1 "
        f"THEN {i + 1}"
        for i in arrays
    )
    return f"SELECT q.*, CASE {cases} END AS {_quoted(NESTED)} FROM (\n{body}\n) AS q"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
