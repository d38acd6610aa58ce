"""The identity repository read from a PostgreSQL database (docs/explore.md,
"An identity database").

:func:`read_postgresql` runs the operator's query (``[repository.source] query``)
through ADBC (``adbc-driver-postgresql``, on libpq) and writes what it returns,
Arrow record batch by record batch, into a Parquet snapshot like the ones
``recondiff ingest`` writes: memory stays flat whatever the number of rows.

The query is code from the config, never formatted with anything else (a
result with array columns is read inside
:func:`~recondiff.ingest.sql_statement.with_dimension_check`, which refuses
nested arrays the driver would flatten). It is held to one statement that reads:

* one statement only, beginning with SELECT, WITH, VALUES or TABLE:
  :func:`~recondiff.ingest.sql_statement.one_statement` scans it as
  PostgreSQL's lexer does (quotes, quoted names, dollar quotes, nested
  comments) and refuses a ``;`` followed by anything; the server refuses too
  (the driver prepares the query, and a prepared statement holds one command)
  and the driver runs it inside ``COPY (query) TO STDOUT``, which takes one;
* in a READ ONLY transaction (``SET TRANSACTION READ ONLY``, and the session's
  ``default_transaction_read_only``), checked before the query runs: a query
  that writes (``DELETE ... RETURNING``, a data-modifying CTE, a function that
  writes, ``nextval``) fails with the server's own refusal;
* with a statement timeout (``statement_timeout``, default one hour);
* by a user that is not a superuser nor a member of one (READ ONLY does not
  stop a superuser's ``lo_export``), checked after the server parsed the query
  and before it runs; recondiff's own settings call ``pg_catalog.`` functions,
  which no ``search_path`` shadows.

The password goes to libpq inside the connection URI in this process's memory
(never argv, never the environment), and is cut from every message the driver
returns. The URL is read as libpq reads it (:func:`libpq_view`), its hosts and
libpq's environment (``PGHOST``, ``PGHOSTADDR``, ``PGSERVICE``) decide whether
TLS must verify the server (:func:`tls_parameters`); where it does not,
``require_auth=!password`` keeps the password from going in clear. The text is
UTF-8 (``client_encoding=UTF8``, each batch checked).

Columns become ``string`` or ``list<string>`` (:mod:`recondiff.ingest.sql_columns`):
arrays are lists, numbers, booleans, dates and times text in one form
(timestamps ISO 8601, UTC with a ``Z`` for ``timestamptz``).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recondiff import __version__
from recondiff.errors import InputError
from recondiff.ingest.columns import is_list, multi_valued
from recondiff.ingest.snapshot import (
    META_ROWS,
    META_SOURCE_SHA256,
    ReadOptions,
    SnapshotInfo,
    as_utc,
    file_sha256,
    metadata_of,
)
from recondiff.ingest.sql_columns import column_text, snapshot_schema
from recondiff.ingest.sql_statement import WHERE, one_statement, with_dimension_check
from recondiff.io.atomic import write_atomically

FORMAT = "postgresql"
META_QUERY = "recondiff.query"
STATEMENT_TIMEOUT = 3600
"""Seconds the query may run (reading every row included) before the server cancels it."""
CONNECT_TIMEOUT = 15
"""Seconds to wait for the server to answer (libpq's connect_timeout), unless the URL says."""


# -- reading ---------------------------------------------------------------------


def read_postgresql(
    url: str,
    query: str,
    out: Path,
    *,
    password: str | None,
    captured_at: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    options: ReadOptions = ReadOptions(),
    statement_timeout: int = STATEMENT_TIMEOUT,
    ca_file: Path | None = None,
    verify: bool = True,
) -> SnapshotInfo:
    """Run ``query`` on the database at ``url`` (no password in it: ``password``
    comes separately) and write its rows as a Parquet snapshot at ``out``,
    atomically, batch by batch. ``progress(rows)`` after each batch.

    ``options``: ``allow_empty`` accepts a query that returns no rows (else an
    error, as ``ingest`` refuses an empty export); ``multi_valued`` columns of
    text become one-element lists. ``ca_file`` and ``verify``: TLS, see
    :func:`tls_parameters` (``[repository.source] ca_file`` and
    ``insecure_skip_tls_verify``). Every failure is one InputError line without
    the password; ``out`` is then left as it was.
    """
    out = Path(out)
    source = _check_url(url)
    body = one_statement(query, source)
    when = datetime.now(UTC) if captured_at is None else as_utc(captured_at)
    redact = _redactor(password)
    metadata = _metadata(when, source, query)
    rows = 0

    def counted(done: int) -> None:
        nonlocal rows
        rows = done
        if progress is not None:
            progress(done)

    uri = connection_uri(url, password, ca_file=ca_file, verify=verify)
    connection = _connect(uri, source, redact)
    del uri
    with closing(connection):
        cursor = connection.cursor()
        try:
            context = (source, redact, statement_timeout)
            reader, schema = _start(cursor, body, context, options)
            schema = schema.with_metadata(metadata)
            write_atomically(
                out,
                lambda temp: _write(temp, reader, schema, context, options, counted),
                "the snapshot",
                hidden=False,
            )
        finally:
            _quietly(cursor.close)
            _quietly(connection.rollback)  # nothing to keep: the transaction only read
    return SnapshotInfo(
        path=out,
        rows=rows,
        captured_at=when,
        source=source,
        source_sha256=metadata[META_SOURCE_SHA256],
        sha256=file_sha256(out),
        format=FORMAT,
        recondiff_version=__version__,
    )


def _start(
    cursor: Any, body: str, context: tuple[str, Callable[[str], str], int], options: ReadOptions
) -> tuple[pa.RecordBatchReader, pa.Schema]:
    """Begin the READ ONLY transaction, have the server parse the query (its
    errors first), refuse a superuser and columns recondiff cannot write, then
    run the query: the reader of its batches, and the snapshot's schema. With
    array columns the query runs inside :func:`with_dimension_check` (the
    reader's last column is then the check, not the snapshot's)."""
    source, redact, timeout = context
    superuser = _read_only(cursor, timeout, source, redact)
    result = _prepare(cursor, body, source, redact, timeout)
    if superuser:
        raise _refuse_superuser(source)
    # none: SELECT ... INTO, which the server refuses when it runs (read-only)
    schema = snapshot_schema(result, source, options) if len(result) else None
    arrays = [i for i, field in enumerate(result) if is_list(field.type)]
    if arrays:
        body = with_dimension_check(body, result.names, arrays)
    reader = _execute(cursor, body, source, redact, timeout)
    return reader, schema or snapshot_schema(reader.schema, source, options)


def _metadata(when: datetime, source: str, query: str) -> dict[str, str]:
    """The snapshot's key-value metadata, as ``ingest`` writes it (the row count
    is added when the last row is written); the source's digest is the query's."""
    query_sha256 = hashlib.sha256(query.encode("utf-8")).hexdigest()
    return metadata_of(when, source, query_sha256, FORMAT) | {META_QUERY: query}


def _quietly(call: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # after a failure: the first error is the one to tell
        call()


def _check_url(url: str) -> str:
    """The URL as the snapshot names it: refused if it holds a password, or if
    libpq would read it otherwise than recondiff (:func:`libpq_view`)."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        raise InputError("the PostgreSQL URL is not a URL ([repository.source] url)") from None
    if not url.startswith(("postgresql://", "postgres://")):  # libpq: lower case only
        raise InputError(f"{url}: not a postgresql:// URL ([repository.source] url)")
    view = libpq_view(url)
    keys = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if has_password or view.password or (keys | set(view.params)) & {"password", "sslpassword"}:
        raise InputError(
            "the PostgreSQL URL holds a password; never write one into the config: "
            "use password_env or password_file ([repository.source] url)"
        )
    return url


@dataclass(frozen=True)
class LibpqView:
    """A URL as libpq reads it (``conninfo_uri_parse_options`` in
    fe-connect.c), which is not as :func:`urllib.parse.urlsplit` does: libpq
    takes the user up to the FIRST ``@`` before a ``/``, a host up to ``:``,
    ``/``, ``?`` or ``,``, knows no ``#`` and no ``+`` for space. ``hosts`` is
    the URL's host list (``[]`` when it names none), ``params`` its query
    parameters (the last of a name wins; ``ssl=true`` and ``requiressl=1`` are
    ``sslmode=require``),
    ``query`` the text after the ``?`` (None without one)."""

    password: bool
    hosts: list[str]
    params: dict[str, str]
    query: str | None


def libpq_view(url: str) -> LibpqView:
    """:class:`LibpqView` of ``url``; InputError for what libpq would refuse or
    what would fool recondiff (an ``@`` in a host name: ``u@evil,@127.0.0.1``)."""
    rest = url.split("://", 1)[-1]
    user_end = re.search(r"[@/]", rest)
    password = False
    if user_end is not None and user_end.group() == "@":
        password = ":" in rest[: user_end.start()]
        rest = rest[user_end.end() :]
    hosts: list[str] = []
    while True:
        found = re.match(r"(\[[^\]]*\]|[^:/?,]*)(:[^/?,]*)?([,/?]|$)", rest)
        if found is None:
            raise InputError(f"{url}: libpq cannot read the host list ([repository.source] url)")
        hosts.append(_uri_decode(url, found.group(1).strip("[]") if found.group(1).startswith("[")
                                 else found.group(1)))  # fmt: skip
        rest, stop = rest[found.end() :], found.group(3)
        if stop != ",":
            break
    if hosts == [""]:
        hosts = []
    if any("@" in host for host in hosts):
        raise InputError(
            f"{url}: the URL has a second '@', which libpq reads as part of a host name "
            "(and would connect there); write user@host only once ([repository.source] url)"
        )
    query: str | None = rest if stop == "?" else None
    if stop == "/" and "?" in rest:  # after the database name
        query = rest.split("?", 1)[1]
    return LibpqView(password, hosts, _uri_params(url, query or ""), query)


def _uri_params(url: str, query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query.split("&") if query else []:
        if item == "" and query.endswith("&"):
            continue
        key, sep, value = item.partition("=")
        if not sep or "=" in value:
            raise InputError(f"{url}: libpq cannot read the parameter {item!r} "
                             "(write key=value) ([repository.source] url)")  # fmt: skip
        key, value = _uri_decode(url, key), _uri_decode(url, value)
        if key == "ssl" and value == "true":  # libpq's JDBC spelling
            key, value = "sslmode", "require"
        elif key == "requiressl":  # libpq's old one (conninfo_storeval)
            key, value = "sslmode", "require" if value.startswith("1") else "prefer"
        params[key] = value
    return params


def _uri_decode(url: str, text: str) -> str:
    """libpq's percent-decoding: ``%XX`` only (``+`` stays), ``%00`` refused."""
    if re.search(r"%(?![0-9A-Fa-f]{2})|%00", text):
        raise InputError(f"{url}: libpq cannot read the percent-encoded {text!r} "
                         "([repository.source] url)")  # fmt: skip
    return unquote(text, errors="strict") if "%" in text else text


def _redactor(password: str | None) -> Callable[[str], str]:
    """A function that cuts the password (as given and URL-encoded) out of a text."""
    secrets = sorted(
        {s for s in (password, quote(password or "", safe=""), quote(password or "")) if s},
        key=len,
        reverse=True,
    )

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return redact


def _connect(uri: str, source: str, redact: Callable[[str], str]) -> Any:
    """An ADBC connection (autocommit off: the driver has begun a transaction)."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as pg

    try:
        return pg.connect(uri, autocommit=False)
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        raise _connect_error(source, _message(exc, redact)) from None


def connection_uri(
    url: str, password: str | None, *, ca_file: Path | None = None, verify: bool = True
) -> str:
    """The URI given to libpq: ``url`` plus the password (URL-encoded), a connect
    timeout, ``application_name=recondiff``, ``client_encoding=UTF8`` (over any
    other: the snapshot is UTF-8), the TLS parameters (:func:`tls_parameters`)
    and, over a connection TLS does not verify, ``require_auth=!password``:
    libpq then never sends a password (given, or from ``~/.pgpass``) in clear,
    unless the URL says otherwise. Kept in memory only: never printed."""
    view = libpq_view(url)
    keys = set(view.params)
    extra = [] if password is None else [f"password={quote(password, safe='')}"]
    if "connect_timeout" not in keys:
        extra.append(f"connect_timeout={CONNECT_TIMEOUT}")
    if "application_name" not in keys:
        extra.append("application_name=recondiff")
    extra.append("client_encoding=UTF8")
    tls = tls_parameters(url, ca_file=ca_file, verify=verify)
    extra += tls
    verified = any(p == f"sslmode={_VERIFYING}" for p in tls) or (
        view.params.get("sslmode") == _VERIFYING
    )
    if not verified and "require_auth" not in keys:  # a password from ~/.pgpass too
        extra.append("require_auth=%21password")
    if view.query is None:
        joiner = "?"
    else:
        joiner = "&" if view.query and not view.query.endswith("&") else ""
    return url + joiner + "&".join(extra)


_VERIFYING = "verify-full"


def tls_parameters(url: str, *, ca_file: Path | None = None, verify: bool = True) -> list[str]:
    """libpq's sslmode and sslrootcert for ``url``: TLS with the certificate and
    host name verified (``verify-full``) unless the server is this machine
    (:func:`_local`). ``ca_file`` is the CA bundle (else the
    system's); ``verify=False`` (``insecure_skip_tls_verify``) encrypts without
    checking, with a warning. An ``sslmode`` in the URL that does not verify is
    refused for another host unless ``verify=False``."""
    view = libpq_view(url)
    query = view.params
    local = _local(view)
    mode = query.get("sslmode")
    params: list[str] = []
    if ca_file is not None:
        if not Path(ca_file).is_file():
            raise InputError(f"{ca_file}: no such CA file ([repository.source] ca_file)")
        if "sslrootcert" not in query:
            params.append(f"sslrootcert={quote(str(ca_file), safe='')}")
    if local and ca_file is None:
        return params
    if mode is None:
        mode = _VERIFYING if verify else "require"
        params.append(f"sslmode={mode}")
        if verify and ca_file is None and "sslrootcert" not in query:
            params.append(f"sslrootcert={quote(_system_cas(), safe='')}")
    if mode != _VERIFYING:
        if verify:
            raise InputError(
                f"{url}: sslmode={mode} does not check the server's certificate, and the "
                "password would go to whoever answers; remove sslmode (recondiff uses "
                "verify-full) or set insecure_skip_tls_verify = true ([repository.source] url)"
            )
        print(
            f"recondiff: WARNING: TLS certificate verification is OFF for {url} "
            f"(insecure_skip_tls_verify, sslmode={mode}): the server is not authenticated; "
            "anyone on the network path can pose as it and read the password and the rows",
            file=sys.stderr,
            flush=True,
        )
    return params


def _local(view: LibpqView) -> bool:
    """Whether every host libpq may connect to is this machine (loopback, or a
    unix socket): the URL's hosts, its ``host`` and ``hostaddr`` parameters
    (libpq connects to ``hostaddr`` when given), and where the URL leaves them
    out, libpq's environment (``PGHOST`` when the URL names no host,
    ``PGHOSTADDR``). A ``service`` (``?service=``, ``PGSERVICE``) names hosts
    recondiff does not see."""
    query = view.params
    if "service" in query or os.environ.get("PGSERVICE"):
        return False
    hosts = query.get("host", ",".join(view.hosts) if view.hosts else None)
    if hosts is None:
        hosts = os.environ.get("PGHOST")
    addresses = query.get("hostaddr", os.environ.get("PGHOSTADDR"))
    names = []
    for value in (hosts, addresses):
        if value:
            names += [h.strip() for h in value.split(",")]
    return all(_loopback(name) for name in names)


def _loopback(host: str) -> bool:
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    if host in ("", "localhost") or host.startswith("/"):
        return True  # no host: libpq's unix socket
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _system_cas() -> str:
    """The system's CA bundle for libpq (the driver's own OpenSSL may not know where
    Debian keeps it); "system" lets libpq ask its OpenSSL."""
    found = ssl.get_default_verify_paths().cafile
    for candidate in (found, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    return "system"


def _connect_error(source: str, message: str) -> InputError:
    lower = message.lower()
    if "authentication failed" in lower or "no password supplied" in lower:
        return InputError(
            f"{source}: the server refused the login ({message}); check the user in the URL "
            "and the password (password_env or password_file)"
        )
    if "pg_hba.conf" in lower:
        return InputError(
            f"{source}: the server does not let this user in from here ({message}); "
            "ask its administrator for a pg_hba.conf entry"
        )
    if re.search(r'database ".*" does not exist', message):
        return InputError(f"{source}: {message}; check the database name in the URL")
    return InputError(
        f"{source}: cannot connect ({message}); check the host and port in the URL and "
        "that the server accepts connections from here"
    )


_PREFIXES = re.compile(
    r"^(?:[A-Z_]+: )?(?:\[libpq\] )?(?:Failed to connect: |Failed to prepare query: |"
    r"Failed to execute query: |could not begin COPY: |Execution error \[\w+\]: |\w+\(\) failed: )*"
)


def _message(exc: BaseException, redact: Callable[[str], str]) -> str:
    """The server's (or libpq's) words of a driver error, on one line, without
    the password, the driver's prefixes or its echo of the query."""
    text = redact(str(exc)).split("\nQuery was:", 1)[0]
    found = re.search(r"\b(?:ERROR|FATAL|PANIC):\s+(.*)", text)
    line = found.group(1) if found else _PREFIXES.sub("", text.strip())
    line = (line.strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"\.? SQLSTATE: \w+$", "", " ".join(line.split()))


_STATES = (
    ("in a read-only transaction", "25006"),
    ("canceling statement due to statement timeout", "57014"),
    ("permission denied", "42501"),
    ("server closed the connection", "08006"),
    ("terminating connection", "57P01"),
    ("SSL error", "08006"),
    ("SSL SYSCALL error", "08006"),
)
"""The SQLSTATE of a server message that lost it: the driver's record batch
reader reports an error met while streaming as a bare pyarrow error."""


def _sqlstate(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state:
        return state
    found = re.search(r"SQLSTATE: (\w{5})", str(exc))
    if found:
        return found.group(1)
    return next((code for words, code in _STATES if words in str(exc)), "")


def _query_error(
    exc: BaseException, source: str, redact: Callable[[str], str], timeout: int
) -> InputError:
    state, message = _sqlstate(exc), _message(exc, redact)
    if state == "25006":
        return InputError(
            f"{source}: the query tries to write ({message}); recondiff runs it in a READ ONLY "
            f"transaction: give a query that only reads ({WHERE})"
        )
    if state == "57014":
        return InputError(
            f"{source}: the server cancelled the query ({message}; the statement timeout is "
            f"{timeout} s); make the query faster or read fewer rows ({WHERE})"
        )
    if state == "42501":
        return InputError(
            f"{source}: {message}; grant the user SELECT on what the query reads "
            "(docs/explore.md, An identity database)"
        )
    if state.startswith(("08", "57P")):  # connection exception, operator intervention
        return InputError(f"{source}: the connection failed during the query ({message})")
    return InputError(f"{source}: the query failed: {message} ({WHERE})")


def _read_only(cursor: Any, timeout: int, source: str, redact: Callable[[str], str]) -> bool:
    """Make the transaction READ ONLY with a statement timeout, and check it is;
    whether the user is (or may become) a superuser."""
    import adbc_driver_manager

    try:
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(_SETTINGS, (f"{int(timeout)}s",))
        _, _, state, superuser = cursor.fetchall()[0]
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        raise _query_error(exc, source, redact, timeout) from None
    if state != "on":
        raise InputError(
            f"{source}: the server did not start a READ ONLY transaction "
            "(a connection pooler in between?); the query was not run"
        )
    return bool(superuser)


_SETTINGS = (
    # pg_catalog. everywhere: a search_path from the URL's options (or the role's)
    # could put a schema's own set_config or current_setting first
    "SELECT pg_catalog.set_config('statement_timeout', $1, true), "
    "pg_catalog.set_config('default_transaction_read_only', 'on', false), "
    "pg_catalog.current_setting('transaction_read_only'), "
    "pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.=) 'on' "
    "OR EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolsuper "
    "AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))"
)
"""Set the timeout and check READ ONLY; whether the user is a superuser, or
may become one (SET ROLE, even inside the query: set_config('role', ...))."""


def _refuse_superuser(source: str) -> InputError:
    return InputError(
        f"{source}: the user is a superuser (or a member of one), for whom READ ONLY does "
        "not stop writing files on the database server (lo_export, COPY TO PROGRAM through "
        "dblink); the query was not run. Use a role that can only read "
        "(docs/explore.md, An identity database)"
    )


def _execute(
    cursor: Any, body: str, source: str, redact: Callable[[str], str], timeout: int
) -> pa.RecordBatchReader:
    import adbc_driver_manager

    try:
        cursor.execute(body)
        return cursor.fetch_record_batch()
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        raise _query_error(exc, source, redact, timeout) from None


def _prepare(
    cursor: Any, body: str, source: str, redact: Callable[[str], str], timeout: int
) -> pa.Schema:
    """Have the server parse the query without running it: its errors (syntax,
    a missing table or grant) come before any other refusal; the result's columns."""
    import adbc_driver_manager

    try:
        return cursor.adbc_execute_schema(body)
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        raise _query_error(exc, source, redact, timeout) from None


def _batches(
    reader: pa.RecordBatchReader, context: tuple[str, Callable[[str], str], int]
) -> Iterator[pa.RecordBatch]:
    """The reader's batches; a driver error while reading is the one-line InputError."""
    import adbc_driver_manager

    source, redact, timeout = context
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
            raise _query_error(exc, source, redact, timeout) from None
        yield batch


def _write(
    temp: Path,
    reader: pa.RecordBatchReader,
    schema: pa.Schema,
    context: tuple[str, Callable[[str], str], int],
    options: ReadOptions,
    counted: Callable[[int], None],
) -> None:
    source = context[0]
    multi = multi_valued(options)
    checked = len(reader.schema) == len(schema) + 1  # with_dimension_check's last column
    fields = list(reader.schema)[: len(schema)]
    rows = 0
    with pq.ParquetWriter(temp, schema, compression="zstd") as writer:
        for batch in _batches(reader, context):
            if batch.num_rows == 0:
                continue
            if checked:
                _check_dimensions(source, schema, batch.column(len(schema)), rows)
            arrays = [
                column_text(source, field, column, field.name.lower() in multi)
                for field, column in zip(fields, batch.columns[: len(schema)], strict=True)
            ]
            _check_utf8(source, schema, arrays)
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            rows += batch.num_rows
            counted(rows)
        if rows == 0 and not options.allow_empty:
            raise InputError(
                f"{source}: the query returned no rows; an empty repository would make every "
                "account look orphaned. Pass --allow-empty if it really is empty"
            )
        writer.add_key_value_metadata({META_ROWS: str(rows)})


def _check_utf8(source: str, schema: pa.Schema, arrays: list[pa.Array]) -> None:
    """InputError naming the first column whose text is not valid UTF-8: the
    driver passes the server's bytes on as they are, and a SQL_ASCII database,
    or a query that changes client_encoding, sends others."""
    for field, array in zip(schema, arrays, strict=True):
        try:
            array.validate(full=True)
        except pa.ArrowInvalid:
            raise InputError(
                f'{source}: the column "{field.name}" holds text that is not valid UTF-8 '
                "(a SQL_ASCII database, or a query that sets client_encoding?); convert it "
                f"in the query, e.g. convert_from(\"{field.name}\"::bytea, 'LATIN1') ({WHERE})"
            ) from None


def _check_dimensions(source: str, schema: pa.Schema, check: pa.Array, before: int) -> None:
    """InputError for the first row whose ``check`` (with_dimension_check) names
    an array column with more than one dimension."""
    if check.null_count == len(check):
        return
    row = pc.index(pc.is_valid(check), True).as_py()
    name = schema.field(int(check[row].as_py()) - 1).name
    raise InputError(
        f'{source}: the column "{name}" holds an array of more than one dimension (row '
        f"{before + row + 1}), which would lose its shape as a list; give a one-dimensional "
        f'array, e.g. ARRAY(SELECT pg_catalog.unnest("{name}")) AS "{name}" if flat is meant '
        f"({WHERE})"
    )
