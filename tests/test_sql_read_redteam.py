"""Red team: the identity database read (recondiff/ingest/sql_read.py,
sql_statement.py, sql_columns.py) against a real throwaway PostgreSQL
(tests/postgres.py).

The promise: the query from the config runs as ONE read-only statement with a
timeout, the password never leaks (nor goes to a host unverified), a failed
read leaves no snapshot, and values are exact. Holes are ``xfail(strict=True)``
tests that fail on the current code; the attacks that fail have a short test
proving they hold (where tests/test_sql_read.py does not already).

Where the password must not go to a server recondiff did not check, a fake
PostgreSQL server (a thread on 127.0.0.1) answers "no TLS" to libpq's
SSLRequest and asks for the password in clear: it records what it got. The
host ``127.1`` stands for another machine: libpq reaches it (it is 127.0.0.1),
but recondiff does not count it as this machine (``tls_parameters`` asks
verify-full for it), exactly like ``db.example.org``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.errors import ExitCode, InputError
from recondiff.ingest.snapshot import ReadOptions
from recondiff.ingest.sql_read import one_statement, read_postgresql, tls_parameters
from tests.postgres import Postgres, postgres_server

__all__ = ["postgres_server"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(postgres_server: Postgres) -> Postgres:
    """The module's cluster with a table the role may write (only the READ
    ONLY transaction protects it), a sequence, and a table with a non-ASCII name."""
    postgres_server.sql("""
        DROP TABLE IF EXISTS ledger, names; DROP SEQUENCE IF EXISTS ids;
        CREATE TABLE ledger (x int); INSERT INTO ledger VALUES (1), (2);
        GRANT ALL ON ledger TO recon;
        CREATE SEQUENCE ids; GRANT ALL ON ids TO recon;
        CREATE TABLE names (n text); INSERT INTO names VALUES ('Zoë');
        GRANT SELECT ON names TO recon;
    """)
    return postgres_server


def read(server: Postgres, query: str, out: Path, *, url: str | None = None,
         password: str | None = None, **kwargs: object) -> pa.Table:  # fmt: skip
    read_postgresql(url or server.url, query, out,
                    password=server.password if password is None else password,
                    **kwargs)  # type: ignore[arg-type]  # fmt: skip
    return pq.read_table(out)


def refused(server: Postgres, query: str, tmp_path: Path, *, url: str | None = None,
            password: str | None = None, **kwargs: object) -> str:  # fmt: skip
    """The one-line InputError of a read that must fail, which leaves nothing."""
    out = tmp_path / "snap" / "repository.parquet"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"previous")
    with pytest.raises(InputError) as info:
        read(server, query, out, url=url, password=password, **kwargs)
    text = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE and "\n" not in text
    assert server.password not in text and "s3cret" not in text
    assert out.read_bytes() == b"previous" and len(list(out.parent.iterdir())) == 1
    return text


def ledger(server: Postgres) -> str:
    return server.scalar("SELECT string_agg(x::text, ',' ORDER BY x) FROM ledger")


# -- a fake server that asks for the password in clear -----------------------------------


class FakeServer:
    """Listens on 127.0.0.1; says "no TLS" (b"N") to an SSLRequest, asks for a
    cleartext password and records the password message."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.port: int = self.sock.getsockname()[1]
        self.passwords: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(10)
                    self._one(conn)
        except OSError:
            return

    def _one(self, conn: socket.socket) -> None:
        head = conn.recv(8)
        while len(head) == 8 and struct.unpack("!ii", head)[1] in (80877103, 80877104):
            conn.sendall(b"N")  # SSLRequest / GSSENCRequest: not here
            head = conn.recv(8)
        if len(head) < 8:
            return  # the client gave up (it wanted TLS)
        length = struct.unpack("!i", head[:4])[0]
        rest = length - len(head)
        while rest > 0:
            chunk = conn.recv(rest)
            if not chunk:
                return
            rest -= len(chunk)
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        answer = conn.recv(4096)
        if answer.startswith(b"p"):
            self.passwords.append(answer)

    def close(self) -> None:
        # shutdown wakes the accept() the serving thread is blocked in (close
        # alone does not, on Linux: each teardown waited out the 5 s join)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def test_the_fake_server_stands_for_another_host(postgres_server: Postgres, fake: FakeServer,
                                                 tmp_path: Path) -> None:  # fmt: skip
    """The premise of the TLS tests below: recondiff asks verify-full for 127.1,
    and then libpq gives the fake server nothing."""
    assert tls_parameters("postgresql://u@127.1/x")[0] == "sslmode=verify-full"
    text = refused(postgres_server, "SELECT 1 AS a", tmp_path,
                   url=f"postgresql://recon@127.1:{fake.port}/identities")  # fmt: skip
    assert "cannot connect" in text and fake.passwords == []


# -- TLS and the password: holes ------------------------------------------------------------


def test_a_host_hidden_behind_a_second_at_sign_gets_no_password(
    postgres_server: Postgres, fake: FakeServer, tmp_path: Path
) -> None:
    url = f"postgresql://recon@127.1,@127.0.0.1/identities?port={fake.port},{postgres_server.port}"
    with contextlib.suppress(InputError):
        read(postgres_server, "SELECT 1 AS a", tmp_path / "o.parquet", url=url)
    assert fake.passwords == []  # today: b"p...pg s3cret/@&%?#:test-only\0"


def test_libpq_environment_cannot_take_a_hostless_url_elsewhere_in_clear(
    postgres_server: Postgres, fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", "127.1")
    monkeypatch.setenv("PGPORT", str(fake.port))
    with contextlib.suppress(InputError):
        read(postgres_server, "SELECT 1 AS a", tmp_path / "o.parquet",
             url="postgresql://recon@/identities")  # fmt: skip
    assert fake.passwords == []


def test_holds_a_service_file_cannot_turn_tls_off(postgres_server: Postgres, fake: FakeServer,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """?service= names hosts recondiff cannot see: it asks verify-full, which
    wins over the service file's sslmode=disable; the fake server gets nothing."""
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[idm]\nhost=127.1\nport={fake.port}\nsslmode=disable\n"
                        "user=recon\ndbname=identities\n", encoding="utf-8")  # fmt: skip
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    text = refused(postgres_server, "SELECT 1 AS a", tmp_path,
                   url="postgresql:///identities?service=idm")  # fmt: skip
    assert "cannot connect" in text and fake.passwords == []


@pytest.mark.parametrize("password", ["p%41ss", "x@y:z/?#%&=+", "query"])
def test_holds_passwords_url_special_or_a_common_word(postgres_server: Postgres, tmp_path: Path,
                                                      password: str) -> None:  # fmt: skip
    """The password reaches libpq intact (the login works: '%41' is not read as
    'A') and is cut from what the server echoes, even when it is a word
    ("query") the message holds anyway."""
    role = f"pw_{abs(hash(password)) % 10**6}"
    literal = password.replace("'", "''")
    postgres_server.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD "
                        f"'{literal}'; GRANT CONNECT ON DATABASE identities TO {role}")  # fmt: skip
    url = postgres_server.url.replace("recon@", f"{role}@")
    table = read(postgres_server, "SELECT current_user::text AS u", tmp_path / "o.parquet",
                 url=url, password=password)  # fmt: skip
    assert table.to_pylist() == [{"u": role}]
    if password != "query":  # the metadata key recondiff.query holds that word
        assert password.encode() not in (tmp_path / "o.parquet").read_bytes()
    text = refused(postgres_server, f"SELECT '{literal}'::int AS x", tmp_path, url=url,
                   password=password)  # fmt: skip
    assert 'invalid input syntax for type integer: "***"' in text
    if password != "query":
        assert password not in text and quote(password, safe="") not in text


# -- the guards of the query: holes ---------------------------------------------------------


def test_a_nul_byte_in_the_query_is_refused(server: Postgres, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read(server, "SELECT 1 AS a\x00 WHERE false", tmp_path / "o.parquet",
             options=ReadOptions(allow_empty=True))  # fmt: skip


SCANNER_FOOLED = [
    # PostgreSQL's identifiers hold non-ASCII letters and '$': é$x$ is one name,
    # the scanner sees 'é' then a dollar-quoted string up to b$x$
    "SELECT 1 AS é$x$; DELETE FROM ledger; SELECT 2 AS b$x$",
    # PostgreSQL ends a -- comment at \r as at \n; the scanner only at \n
    "SELECT 1 AS a -- x\r; DELETE FROM ledger; SELECT 2 AS b\n, 3 AS c",
]


@pytest.mark.parametrize("query", SCANNER_FOOLED)
def test_the_scanner_sees_the_statements_postgresql_sees(query: str) -> None:
    with pytest.raises(InputError, match="more than one statement"):
        one_statement(query)


@pytest.mark.parametrize("query", SCANNER_FOOLED)
def test_holds_the_server_refuses_what_fools_the_scanner(server: Postgres, tmp_path: Path,
                                                         query: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The second guard, with the scanner out of the way (it now refuses these
    first: test_the_scanner_sees_the_statements_postgresql_sees)."""
    monkeypatch.setattr("recondiff.ingest.sql_read.one_statement", lambda q, source="": q)
    assert "cannot insert multiple commands into a prepared statement" in refused(
        server, query, tmp_path
    )
    assert ledger(server) == "1,2"


def test_holds_standard_conforming_strings_off_is_refused_by_the_server(
    server: Postgres, tmp_path: Path
) -> None:
    """With the role's standard_conforming_strings off, 'x\\' does not end a
    string for the server: the scanner sees one statement, the server three."""
    query = "SELECT 'x\\' , ' ; DELETE FROM ledger ; SELECT 1 AS a -- '"
    assert one_statement(query) == query
    server.sql("ALTER ROLE recon SET standard_conforming_strings = off")
    try:
        text = refused(server, query, tmp_path)
    finally:
        server.sql("ALTER ROLE recon RESET standard_conforming_strings")
    assert "cannot insert multiple commands" in text and ledger(server) == "1,2"


def test_holds_the_query_cannot_escape_copy(server: Postgres, tmp_path: Path) -> None:
    """The driver runs COPY (query) TO STDOUT; a query that closes the
    parenthesis (behind a name the scanner takes for a dollar quote) to write
    TO PROGRAM fails: the driver parses the query alone first. Even as superuser."""
    target = server.directory / "escaped"
    admin = f"postgresql://{server.superuser}@127.0.0.1:{server.port}/identities"
    text = refused(server, f"SELECT 1 AS é$x$) TO PROGRAM 'touch {target}' --$x$", tmp_path,
                   url=admin, password=server.admin_password)  # fmt: skip
    assert 'syntax error at or near ")"' in text and not target.exists()


def test_a_superuser_login_is_refused(server: Postgres, tmp_path: Path) -> None:
    target = server.directory / "written-by-recondiff"
    oid = server.scalar("SELECT lo_from_bytea(0, 'owned')")
    admin = f"postgresql://{server.superuser}@127.0.0.1:{server.port}/identities"
    try:
        refused(server, f"SELECT lo_export({oid}, '{target}')::text AS x", tmp_path, url=admin,
                password=server.admin_password)  # fmt: skip
    finally:
        written = target.exists()
    assert not written


def test_url_options_cannot_shadow_the_timeout(server: Postgres, tmp_path: Path) -> None:
    server.sql("""
        DROP SCHEMA IF EXISTS evil CASCADE; CREATE SCHEMA evil; GRANT USAGE ON SCHEMA evil TO recon;
        CREATE FUNCTION evil.set_config(text, text, boolean) RETURNS text
          LANGUAGE sql AS $$ SELECT 'ignored' $$;
        CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT 'on' $$;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA evil TO recon;
    """)
    url = server.url + "?options=-csearch_path%3Devil%2Cpg_catalog"
    text = refused(server, "SELECT pg_sleep(1.5)::text AS s", tmp_path, url=url,
                   statement_timeout=1)  # fmt: skip
    assert "statement timeout" in text


def test_holds_the_query_cannot_lift_its_timeout(server: Postgres, tmp_path: Path) -> None:
    text = refused(server, "SELECT set_config('statement_timeout', '0', true) AS s, "
                   "pg_sleep(3)::text AS z", tmp_path, statement_timeout=1)  # fmt: skip
    assert "canceling statement due to statement timeout" in text


def test_read_only_and_pg_terminate_backend(server: Postgres, tmp_path: Path) -> None:
    victim_uri = (f"{server.url}?password={quote(server.password, safe='')}"
                  "&application_name=victim")  # fmt: skip
    with pg.connect(victim_uri):
        read(server, "SELECT count(pg_terminate_backend(pid, 5000))::text AS n "
             "FROM pg_stat_activity WHERE application_name = 'victim'", tmp_path / "o.parquet")  # fmt: skip
        alive = server.scalar("SELECT count(*) FROM pg_stat_activity "
                              "WHERE application_name = 'victim'") == "1"  # fmt: skip
    docs = (REPO / "docs" / "explore.md").read_text(encoding="utf-8")
    assert alive or "pg_terminate_backend" in docs


@pytest.mark.parametrize(
    "query",
    [
        "WITH x AS (SELECT 1) INSERT INTO ledger VALUES (5) RETURNING x",
        "WITH x AS (SELECT 1) UPDATE ledger SET x = 7 RETURNING x",
        "WITH x AS (SELECT 1) DELETE FROM ledger RETURNING x",
        "SELECT x FROM ledger FOR SHARE",
        "SELECT x FROM ledger FOR KEY SHARE",
        "SELECT x FROM ledger FOR NO KEY UPDATE",
        "SELECT setval('ids', 100)::text AS n",
    ],
)
def test_holds_more_writes_refused_by_read_only(server: Postgres, tmp_path: Path,
                                                query: str) -> None:  # fmt: skip
    assert "read-only transaction" in refused(server, query, tmp_path)
    assert ledger(server) == "1,2" and server.scalar("SELECT last_value FROM ids") == "1"


def test_holds_what_read_only_lets_through_leaves_no_trace(server: Postgres,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """A session advisory lock and a large object (both allowed in a READ ONLY
    transaction) are gone after the read: the transaction is rolled back and the
    session closed."""
    before = server.scalar("SELECT count(*) FROM pg_largeobject_metadata")
    table = read(server, "SELECT pg_advisory_lock(42)::text AS l, "
                 "lo_from_bytea(0, 'x')::text AS o, pg_notify('c', 'p')::text AS n",
                 tmp_path / "o.parquet")  # fmt: skip
    assert table.num_rows == 1
    assert server.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
    assert server.scalar("SELECT count(*) FROM pg_largeobject_metadata") == before


# -- values: holes --------------------------------------------------------------------------


def test_money_is_not_read_as_cents(server: Postgres, tmp_path: Path) -> None:
    try:
        value = read(server, "SELECT '-12.34'::money AS m", tmp_path / "o.parquet").to_pylist()
    except InputError as exc:
        assert "money" in str(exc)
        return
    assert value[0]["m"] in ("-12.34", "-$12.34")  # today: '-1234'


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ("'24:00:00'::time", "24:00:00"),
        ("'99999-12-31'::date", "99999-12-31"),
        ("'200000-01-01 00:00:00+00'::timestamptz", "200000-01-01T00:00:00Z"),
    ],
)
def test_no_garbage_for_values_arrow_cannot_format(server: Postgres, tmp_path: Path, sql: str,
                                                   text: str) -> None:  # fmt: skip
    try:
        value = read(server, f"SELECT {sql} AS v", tmp_path / "o.parquet").to_pylist()[0]["v"]
    except InputError:
        return  # a refusal is fine too
    assert value == text


def test_nested_arrays_are_refused_as_the_docs_say(server: Postgres, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read(server, "SELECT ARRAY[ARRAY['a','b'],ARRAY['c',NULL]] AS m", tmp_path / "o.parquet")


def test_nan_and_infinity_as_postgresql_writes_them(server: Postgres, tmp_path: Path) -> None:
    table = read(server, "SELECT 'NaN'::float8 AS a, 'Infinity'::float8 AS b, "
                 "'-Infinity'::float4 AS c, 'NaN'::numeric AS d, 'Infinity'::numeric AS e",
                 tmp_path / "o.parquet")  # fmt: skip
    assert table.to_pylist() == [{"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "NaN",
                                  "e": "Infinity"}]  # fmt: skip


@pytest.mark.parametrize("where", ["role", "url"])
def test_a_latin1_client_encoding_gives_valid_text(server: Postgres, tmp_path: Path,
                                                   where: str) -> None:  # fmt: skip
    url = server.url + ("?client_encoding=LATIN1" if where == "url" else "")
    if where == "role":
        server.sql("ALTER ROLE recon SET client_encoding = 'LATIN1'")
    try:
        table = read(server, "SELECT n FROM names", tmp_path / "o.parquet", url=url)
    except InputError:
        return  # a refusal is fine too
    finally:
        server.sql("ALTER ROLE recon RESET client_encoding")
    assert table.column("n").chunk(0).buffers()[2].to_pybytes() == "Zoë".encode()  # today b"Zo\xeb"
    table.validate(full=True)


# -- values: what holds ---------------------------------------------------------------------


def test_holds_values_exact_as_postgresql_text(server: Postgres, tmp_path: Path) -> None:
    """Numbers of any precision, zones and DST, dates before 1970, enums,
    domains, char padding: the snapshot has what PostgreSQL's ::text has (BC
    dates in ISO 8601's year numbering: 44 BC is -0043)."""
    server.sql("""
        DROP TYPE IF EXISTS mood CASCADE; DROP DOMAIN IF EXISTS mail CASCADE;
        CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE DOMAIN mail AS text;
    """)
    exprs = {
        "tiny": "1e-30::numeric", "wide": "12345678901234567890.123::numeric",
        "scaled": "(-0.000001230)::numeric", "zero_scale": "0::numeric(10,4)",
        "huge": "(-1e100)::numeric", "i8": "(-9223372036854775808)::bigint",
        "half": "0.5::float8", "neg_zero": "'-0'::float8",
        "dst_in": "'2024-03-31 03:30:00 Europe/Paris'::timestamptz",
        "dst_out": "'2024-10-27 02:30:00+01'::timestamptz",
        "old": "'1901-12-13'::date", "enum": "'ok'::mood", "domain": "'a@b'::mail",
        "empty": "''::text", "jb": "'{\"b\": 1, \"a\": [1.50]}'::jsonb",
    }  # fmt: skip
    query = "SELECT " + ", ".join(f"{e} AS {n}" for n, e in exprs.items())
    pg_text = "SELECT " + ", ".join(f"({e})::text AS {n}" for n, e in exprs.items())
    got = read(server, query, tmp_path / "o.parquet").to_pylist()[0]
    want = read(server, pg_text, tmp_path / "t.parquet").to_pylist()[0]
    # timestamptz: the same instant, written ISO 8601 UTC instead of the session's form
    assert got.pop("dst_in") == "2024-03-31T01:30:00Z" and want.pop("dst_in")
    assert got.pop("dst_out") == "2024-10-27T01:30:00Z" and want.pop("dst_out")
    assert got == want
    other = read(server, "SELECT '0044-03-15 BC'::date AS d, 'ab'::char(4) AS c",
                 tmp_path / "bc.parquet")  # fmt: skip
    assert other.to_pylist() == [{"d": "-0043-03-15", "c": "ab  "}]  # char(4): padded, as psql


def test_holds_memory_flat_for_many_rows(postgres_server: Postgres, tmp_path: Path) -> None:
    """Peak memory of a read of 100,000 and of 1,500,000 rows (each in its own
    process): the second grows by much less than its 90 MB of data."""

    def peak(rows: int) -> int:
        code = (
            "import resource, sys; from pathlib import Path\n"
            "from recondiff.ingest.sql_read import read_postgresql\n"
            "read_postgresql(sys.argv[1], \"SELECT 'user' || n AS uid, repeat('x', 50) AS pad "
            f'FROM generate_series(1, {rows}) n", Path(sys.argv[2]), password=sys.stdin.read())\n'
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        )
        done = subprocess.run([sys.executable, "-c", code, postgres_server.url,
                               str(tmp_path / f"{rows}.parquet")], cwd=REPO, check=True,
                              input=postgres_server.password, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        return int(done.stdout.split()[-1]) // 1024

    small, big = peak(100_000), peak(1_500_000)
    assert big - small < 80, (small, big)
