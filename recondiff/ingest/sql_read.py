"""The identity repository read from a PostgreSQL database (docs/explore.md,
"An identity database").

:func:`read_postgresql` runs the operator's query (``[repository.source] query``)
through ADBC (``adbc-driver-postgresql``, on libpq) and writes what it returns,
Arrow record batch by record batch, into a Parquet snapshot like the ones
``recondiff ingest`` writes: memory stays flat whatever the number of rows.

The query is code from the config, never formatted with anything else. It is
held to one statement that reads:

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
* with a statement timeout (``statement_timeout``, default one hour).

The password goes to libpq inside the connection URI in this process's memory
(never argv, never the environment), and is cut from every message the driver
returns. Columns become ``string`` or ``list<string>`` (:mod:`recondiff.ingest.sql_columns`):
arrays are lists, numbers, booleans, dates and times text in one form
(timestamps ISO 8601, UTC with a ``Z`` for ``timestamptz``).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from recondiff import __version__
from recondiff.errors import InputError
from recondiff.ingest.columns import multi_valued
from recondiff.ingest.snapshot import (
    META_CAPTURED_AT,
    META_FORMAT,
    META_ROWS,
    META_SOURCE,
    META_SOURCE_SHA256,
    META_VERSION,
    ReadOptions,
    SnapshotInfo,
    as_utc,
    file_sha256,
)
from recondiff.ingest.sql_columns import column_text, snapshot_schema
from recondiff.ingest.sql_statement import WHERE, one_statement
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
            _read_only(cursor, statement_timeout, source, redact)
            reader = _execute(cursor, body, source, redact, statement_timeout)
            schema = snapshot_schema(reader.schema, source, options).with_metadata(metadata)
            write_atomically(
                out,
                lambda temp: _write(temp, reader, schema, (source, redact, statement_timeout),
                                    options, counted),
                "the snapshot",
                hidden=False,
            )  # fmt: skip
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


def _metadata(when: datetime, source: str, query: str) -> dict[str, str]:
    """The snapshot's key-value metadata, as ``ingest`` writes it (the row count
    is added when the last row is written); the source's digest is the query's."""
    return {
        META_CAPTURED_AT: when.isoformat(),
        META_SOURCE: source,
        META_SOURCE_SHA256: hashlib.sha256(query.encode("utf-8")).hexdigest(),
        META_FORMAT: FORMAT,
        META_VERSION: __version__,
        META_QUERY: query,
    }


def _quietly(call: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # after a failure: the first error is the one to tell
        call()


def _check_url(url: str) -> str:
    """The URL as the snapshot names it: refused if it holds a password."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        raise InputError("the PostgreSQL URL is not a URL ([repository.source] url)") from None
    keys = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if has_password or keys & {"password", "sslpassword"}:
        raise InputError(
            "the PostgreSQL URL holds a password; never write one into the config: "
            "use password_env or password_file ([repository.source] url)"
        )
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise InputError(f"{url}: not a postgresql:// URL ([repository.source] url)")
    return url


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
    timeout, ``application_name=recondiff`` and the TLS parameters
    (:func:`tls_parameters`). Kept in memory only: never printed."""
    parts = urlsplit(url)
    keys = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    extra = [] if password is None else [f"password={quote(password, safe='')}"]
    if "connect_timeout" not in keys:
        extra.append(f"connect_timeout={CONNECT_TIMEOUT}")
    if "application_name" not in keys:
        extra.append("application_name=recondiff")
    extra += tls_parameters(url, ca_file=ca_file, verify=verify)
    joiner = "&" if parts.query else "?"
    return url.rstrip("?") + joiner + "&".join(extra)


_VERIFYING = "verify-full"


def tls_parameters(url: str, *, ca_file: Path | None = None, verify: bool = True) -> list[str]:
    """libpq's sslmode and sslrootcert for ``url``: TLS with the certificate and
    host name verified (``verify-full``) unless the server is this machine
    (loopback or a unix socket). ``ca_file`` is the CA bundle (else the
    system's); ``verify=False`` (``insecure_skip_tls_verify``) encrypts without
    checking, with a warning. An ``sslmode`` in the URL that does not verify is
    refused for another host unless ``verify=False``."""
    parts = urlsplit(url)
    query = {key.lower(): value for key, value in parse_qsl(parts.query, keep_blank_values=True)}
    local = _local(parts, query)
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


def _local(parts: SplitResult, query: dict[str, str]) -> bool:
    """Whether every host the URL names is this machine (loopback, or a unix socket).
    libpq connects to ``hostaddr`` when given, else ``host`` (the parameter
    overrides the URL's); a ``service`` names hosts recondiff does not see."""
    if "service" in query:
        return False
    names = []
    for hosts in (parts.netloc.rpartition("@")[2], query.get("host"), query.get("hostaddr")):
        if hosts:
            names += [h.strip() for h in unquote(hosts).split(",")]
    return all(_loopback(name) for name in names)


def _loopback(host: str) -> bool:
    host = re.sub(r":\d*$", "", host) if not host.startswith("[") else host
    host = host.strip("[]").split("]")[0]
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


def _read_only(cursor: Any, timeout: int, source: str, redact: Callable[[str], str]) -> None:
    """Make the transaction READ ONLY with a statement timeout, and check it is."""
    import adbc_driver_manager

    try:
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(
            "SELECT set_config('statement_timeout', $1, true), "
            "set_config('default_transaction_read_only', 'on', false), "
            "current_setting('transaction_read_only')",
            (f"{int(timeout)}s",),
        )
        state = cursor.fetchall()[0][2]
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        raise _query_error(exc, source, redact, timeout) from None
    if state != "on":
        raise InputError(
            f"{source}: the server did not start a READ ONLY transaction "
            "(a connection pooler in between?); the query was not run"
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
    rows = 0
    with pq.ParquetWriter(temp, schema, compression="zstd") as writer:
        for batch in _batches(reader, context):
            if batch.num_rows == 0:
                continue
            arrays = [
                column_text(source, field, column, field.name.lower() in multi)
                for field, column in zip(reader.schema, batch.columns, strict=True)
            ]
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            rows += batch.num_rows
            counted(rows)
        if rows == 0 and not options.allow_empty:
            raise InputError(
                f"{source}: the query returned no rows; an empty repository would make every "
                "account look orphaned. Pass --allow-empty if it really is empty"
            )
        writer.add_key_value_metadata({META_ROWS: str(rows)})
