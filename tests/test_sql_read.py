"""The identity repository read from PostgreSQL (recondiff/ingest/sql_read.py),
against a real throwaway cluster (tests/postgres.py; Debian's postgresql).

One cluster serves the module: each test makes its own tables. The role
recondiff logs in as (``recon``) gets SELECT on what a test reads, except in
the read-only tests, where it may write, so that only the READ ONLY
transaction stands between the query and the data.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.errors import ExitCode, InputError
from recondiff.ingest.exports import ReadOptions, ingest, read_export
from recondiff.ingest.snapshot import read_snapshot_info
from recondiff.ingest.sql_read import one_statement, read_postgresql
from tests.conftest import SAMPLE
from tests.postgres import Postgres, postgres_server

__all__ = ["postgres_server"]

WHEN = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

PEOPLE = """
CREATE TABLE IF NOT EXISTS people (
    uid text PRIMARY KEY, name text, number integer, salary numeric(10, 2),
    active boolean, hired date, changed timestamptz, local_time timestamp,
    manager text, groups text[], badges integer[]);
TRUNCATE people;
INSERT INTO people VALUES
  ('jdoe', 'John Doe', 1001, 52000.50, true, '2020-03-01',
   '2024-01-02 03:04:05.12+01', '2024-01-02 03:04:05', 'asmith',
   '{staff,"vpn users"}', '{7,42}'),
  ('asmith', 'Ann Smith', 1002, NULL, false, NULL,
   '2024-06-30 23:59:59+00', NULL, NULL, '{}', NULL),
  ('bwong', 'Bo Wong, Jr.', -3, 0.00, NULL, '1999-12-31',
   NULL, '2000-01-01 00:00:00.5', '', '{staff,NULL}', '{1}');
GRANT SELECT ON people TO recon;
"""

EXPECTED = [
    {"uid": "asmith", "name": "Ann Smith", "number": "1002", "salary": None, "active": "false",
     "hired": None, "changed": "2024-06-30T23:59:59Z", "local_time": None, "manager": None,
     "groups": [], "badges": None},
    {"uid": "bwong", "name": "Bo Wong, Jr.", "number": "-3", "salary": "0.00", "active": None,
     "hired": "1999-12-31", "changed": None, "local_time": "2000-01-01T00:00:00.5",
     "manager": "", "groups": ["staff"], "badges": ["1"]},
    {"uid": "jdoe", "name": "John Doe", "number": "1001", "salary": "52000.50", "active": "true",
     "hired": "2020-03-01", "changed": "2024-01-02T02:04:05.12Z",
     "local_time": "2024-01-02T03:04:05", "manager": "asmith", "groups": ["staff", "vpn users"],
     "badges": ["7", "42"]},
]  # fmt: skip


@pytest.fixture
def people(postgres_server: Postgres) -> Postgres:
    postgres_server.sql(PEOPLE)
    return postgres_server


def read(server: Postgres, query: str, out: Path, **kwargs: object) -> pa.Table:
    read_postgresql(server.url, query, out, password=server.password, **kwargs)
    return pq.read_table(out)


def failure(server: Postgres, query: str, tmp_path: Path, *, url: str | None = None,
            password: str | None = None, **kwargs: object) -> str:
    """The one-line InputError of a read that must fail; checks that it left
    nothing (an older snapshot at ``out`` stays as it was, no temp file)."""
    out = tmp_path / "snap" / "repository.parquet"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"the previous snapshot")
    with pytest.raises(InputError) as info:
        read_postgresql(url or server.url, query, out,
                        password=server.password if password is None else password,
                        **kwargs)  # fmt: skip
    text = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in text
    assert server.password not in text and "s3cret" not in text
    assert out.read_bytes() == b"the previous snapshot"
    assert [p.name for p in out.parent.iterdir()] == ["repository.parquet"]
    return text


# -- values ---------------------------------------------------------------------------


def test_values_and_types_exact(people: Postgres, tmp_path: Path) -> None:
    out = tmp_path / "repository.parquet"
    seen: list[int] = []
    info = read_postgresql(people.url, "SELECT * FROM people ORDER BY uid", out,
                           password=people.password, captured_at=WHEN, progress=seen.append)  # fmt: skip
    table = pq.read_table(out)
    assert table.to_pylist() == EXPECTED
    types = {f.name: f.type for f in table.schema}
    assert types == {name: pa.list_(pa.string()) if name in ("groups", "badges") else pa.string()
                     for name in EXPECTED[0]}  # fmt: skip
    assert info.rows == 3 and seen[-1] == 3
    assert info.format == "postgresql" and info.source == people.url
    assert info.captured_at == WHEN
    assert read_snapshot_info(out) == info  # the metadata says what read_postgresql returned
    meta = pq.read_metadata(out).metadata
    assert meta[b"recondiff.rows"] == b"3"
    assert meta[b"recondiff.query"] == b"SELECT * FROM people ORDER BY uid"


def test_other_types_as_text(postgres_server: Postgres, tmp_path: Path) -> None:
    table = read(postgres_server, """
        SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '{"b": 1}'::jsonb AS j,
               1.5::float8 AS f, 1e20::float8 AS big, 9007199254740993::bigint AS i8,
               '12:30:00'::time AS t, 'x'::varchar(3) AS v, NULL AS nothing,
               ARRAY['2024-01-01 00:00:00+02']::timestamptz[] AS stamps,
               ARRAY['x', NULL]::text[] AS only_x, ARRAY[]::text[] AS none,
               'infinity'::timestamptz AS never, '-infinity'::timestamp AS always,
               ARRAY['infinity', '2024-02-29']::date[] AS days,
               '1969-12-31 23:59:59.5+00'::timestamptz AS before_1970,
               '10000-01-01 00:00:00+00'::timestamptz AS far
        """, tmp_path / "o.parquet")  # fmt: skip
    assert table.to_pylist() == [{
        "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": '{"b": 1}', "f": "1.5",
        "big": "1e+20", "i8": "9007199254740993", "t": "12:30:00", "v": "x", "nothing": None,
        "stamps": ["2023-12-31T22:00:00Z"], "only_x": ["x"], "none": [],
        "never": "infinity", "always": "-infinity", "days": ["infinity", "2024-02-29"],
        "before_1970": "1969-12-31T23:59:59.5Z", "far": "10000-01-01T00:00:00Z",
    }]  # fmt: skip


def test_multi_valued_text_column_becomes_lists(people: Postgres, tmp_path: Path) -> None:
    table = read(people, "SELECT uid, manager FROM people ORDER BY uid", tmp_path / "o.parquet",
                 options=ReadOptions(multi_valued=("MANAGER",)))  # fmt: skip
    assert table.column("manager").to_pylist() == [None, [], ["asmith"]]


def test_many_rows_stream_in_batches(postgres_server: Postgres, tmp_path: Path) -> None:
    """400,000 rows of ~60 bytes come in several driver batches (16 MB each):
    each is converted and written on its own, progress after each."""
    seen: list[int] = []
    out = tmp_path / "big.parquet"
    info = read_postgresql(
        postgres_server.url,
        "SELECT 'user' || n AS uid, repeat('x', 50) AS pad, n AS number "
        "FROM generate_series(1, 400000) AS n",
        out, password=postgres_server.password, progress=seen.append,
    )  # fmt: skip
    assert info.rows == 400_000 and seen[-1] == 400_000
    assert len(seen) > 1 and seen == sorted(seen)
    assert pq.ParquetFile(out).metadata.num_row_groups == len(seen)
    last = pq.read_table(out).slice(399_999).to_pylist()
    assert last == [{"uid": "user400000", "pad": "x" * 50, "number": "400000"}]


def test_same_data_as_a_csv_export_ingested(people: Postgres, tmp_path: Path) -> None:
    """The operator's alternative: psql's \\copy to CSV (arrays joined with ';'),
    then recondiff ingest. Text, numbers, dates, arrays and NULL agree; booleans
    and timestamps do not, as docs/explore.md says: the CSV holds PostgreSQL's
    output forms ('t', '2024-01-02 02:04:05.12+00'), the database read true/false
    and ISO 8601 UTC. NULL and an empty text are one in CSV (both empty)."""
    columns = "uid, name, number, salary, active, hired, changed, manager"
    csv = tmp_path / "people.csv"
    people.copy_csv(f"SELECT {columns}, array_to_string(groups, ';') AS groups "
                    "FROM people ORDER BY uid", csv)  # fmt: skip
    ingested = read_export(csv, options=ReadOptions(multi_valued=("groups",))).to_pylist()
    query = f"SELECT {columns}, groups FROM people ORDER BY uid"
    table = read(people, query, tmp_path / "o.parquet").to_pylist()
    differ = {"active", "changed"}

    def blank(row: dict[str, object]) -> dict[str, object]:
        """CSV has no NULL: an empty cell is "" (or [] for a multi-valued column)."""
        return {k: ([] if k == "groups" else "") if v is None else v
                for k, v in row.items() if k not in differ}  # fmt: skip

    assert [blank(r) for r in table] == [blank(r) for r in ingested]
    assert [r["manager"] for r in table] == [None, "", "asmith"]  # the database tells them apart
    assert [r["manager"] for r in ingested] == ["", "", "asmith"]
    assert [r["active"] for r in ingested] == ["f", "", "t"]
    assert [r["active"] for r in table] == ["false", None, "true"]
    assert ingested[2]["changed"].startswith("2024-01-02 02:04:05.12")
    assert table[2]["changed"] == "2024-01-02T02:04:05.12Z"


# -- the query: one statement, read only --------------------------------------------


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  select 1 ;  ", "  select 1"),
        ("SELECT 1; -- done\n", "SELECT 1"),
        ("SELECT 1 -- no newline after", "SELECT 1"),
        ("SELECT ';' AS a, $$;$$ AS b, $x$ ; $y$ $x$ AS c, \"a;b\" FROM t", None),
        ("SELECT E'\\'; DELETE' AS a", None),
        ("SELECT 'it''s; fine' /* ; /* nested ; */ still */ AS a", None),
        ("/* lead */ WITH t AS (SELECT 1) SELECT * FROM t", None),
        ("(SELECT 1) UNION (SELECT 2)", None),
        ("VALUES (1, ';')", None),
        ("TABLE people", None),
        ("SELECT a$b, $1 FROM t", None),
        ("SELECT 1 AS é$x$, 2 AS ü$x$", None),  # names, not a dollar quote
        ("SELECT $é$;$é$ AS x", None),  # a dollar quote with a non-ASCII tag
        ("SELECT 1 -- c\r, 2", None),
    ],
)
def test_one_statement_allowed(query: str, body: str | None) -> None:
    assert one_statement(query) == (query if body is None else body)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT 1; DELETE FROM people", "more than one statement (a ';' at character 9)"),
        ("SELECT 1;; SELECT 2", "more than one statement"),
        ("SELECT 'a'';' ; COMMIT", "more than one statement"),
        ("SELECT 1 /* x */ ; /* y */ DROP TABLE people", "more than one statement"),
        ("SELECT $$;", "unterminated dollar-quoted string at character 8"),
        ("SELECT 'x", "unterminated quoted string"),
        ('SELECT "x', "unterminated quoted name"),
        ("SELECT 1 /* /* */", "unterminated comment"),
        ("DELETE FROM people RETURNING *", "begins with DELETE"),
        ("COMMIT", "begins with COMMIT"),
        ("SET TRANSACTION READ WRITE", "begins with SET"),
        ("-- SELECT\nDROP TABLE people", "begins with DROP"),
        ("", "begins with nothing"),
        ("  ; ", "begins with nothing"),
        ("SELECT 1 AS a\x00 WHERE false", "a NUL character (at character 14)"),
        ("SELECT 1;\u00a0", "more than one statement"),  # U+00A0 is a name for PostgreSQL
        ("SELECTé 1", "begins with SELECTé"),
        ("SELECT 1 AS a\u00a0$x$; DELETE FROM people; $x$", "more than one statement"),
    ],
)
def test_one_statement_refused(query: str, says: str) -> None:
    with pytest.raises(InputError) as info:
        one_statement(query)
    assert says in str(info.value) and str(info.value).endswith("([repository.source] query)")


@pytest.fixture
def writable(postgres_server: Postgres) -> Postgres:
    """A table the role may write (so only the READ ONLY transaction protects
    it), a function that writes, a sequence."""
    postgres_server.sql("""
        DROP TABLE IF EXISTS ledger; DROP SEQUENCE IF EXISTS ids;
        CREATE TABLE ledger (x int); INSERT INTO ledger VALUES (1), (2);
        GRANT ALL ON ledger TO recon;
        CREATE SEQUENCE ids; GRANT ALL ON ids TO recon;
        CREATE OR REPLACE FUNCTION sneaky() RETURNS int LANGUAGE plpgsql
          AS $$ BEGIN INSERT INTO ledger VALUES (3); RETURN 1; END $$;
        GRANT EXECUTE ON FUNCTION sneaky() TO recon;
    """)
    return postgres_server


@pytest.mark.parametrize(
    "query",
    [
        "WITH gone AS (DELETE FROM ledger RETURNING *) SELECT * FROM gone",
        "WITH more AS (INSERT INTO ledger VALUES (9) RETURNING *) SELECT * FROM more",
        "SELECT sneaky() AS x",
        "SELECT nextval('ids') AS x",
        "SELECT x FROM ledger FOR UPDATE",
        "SELECT x INTO copied FROM ledger",
    ],
)
def test_a_query_that_writes_is_refused_by_the_read_only_transaction(
    writable: Postgres, tmp_path: Path, query: str
) -> None:
    text = failure(writable, query, tmp_path)
    assert "read-only transaction" in text
    assert "the query tries to write" in text and "READ ONLY transaction" in text
    assert writable.scalar("SELECT count(*) FROM ledger") == "2"


def test_two_statements_are_refused_before_connecting(writable: Postgres, tmp_path: Path) -> None:
    text = failure(writable, "SELECT 1 AS a; DELETE FROM ledger", tmp_path,
                   url="postgresql://recon@127.0.0.1:1/nowhere")  # fmt: skip
    assert "more than one statement" in text
    assert writable.scalar("SELECT count(*) FROM ledger") == "2"


def test_statement_timeout(postgres_server: Postgres, tmp_path: Path) -> None:
    text = failure(postgres_server, "SELECT pg_sleep(5)::text AS x", tmp_path, statement_timeout=1)
    assert "canceling statement due to statement timeout" in text
    assert "the statement timeout is 1 s" in text


# -- errors ------------------------------------------------------------------------------


def test_server_unreachable(postgres_server: Postgres, tmp_path: Path) -> None:
    closed = postgres_server.url.replace(f":{postgres_server.port}/", ":1/")
    text = failure(postgres_server, "SELECT 1 AS a", tmp_path, url=closed)
    assert text.startswith("postgresql://recon@127.0.0.1:1/identities: cannot connect (")
    assert "Connection refused" in text


def test_authentication_failed(people: Postgres, tmp_path: Path) -> None:
    text = failure(people, "SELECT uid FROM people", tmp_path, password="not-the-password")
    assert "the server refused the login" in text
    assert 'password authentication failed for user "recon"' in text
    assert "not-the-password" not in text


def test_database_missing(postgres_server: Postgres, tmp_path: Path) -> None:
    url = postgres_server.url.rsplit("/", 1)[0] + "/no_such_db"
    text = failure(postgres_server, "SELECT 1 AS a", tmp_path, url=url)
    assert text.endswith('no_such_db: database "no_such_db" does not exist; '
                         "check the database name in the URL")  # fmt: skip


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT * FROM no_such_table", 'the query failed: relation "no_such_table" does not exist'),
        ("SELEC uid FROM people", "begins with SELEC"),
        ("SELECT uid FROM people WHERE", "the query failed: syntax error at end of input"),
        ("SELECT 1 / 0 AS x", "the query failed: division by zero"),
    ],
)
def test_sql_error_gives_the_server_message(people: Postgres, tmp_path: Path, query: str,
                                            says: str) -> None:  # fmt: skip
    text = failure(people, query, tmp_path)
    assert says in text
    assert "Query was" not in text and "COPY" not in text


def test_no_select_grant(postgres_server: Postgres, tmp_path: Path) -> None:
    postgres_server.sql("CREATE TABLE IF NOT EXISTS secret_table (x text)")
    text = failure(postgres_server, "SELECT * FROM secret_table", tmp_path)
    assert "permission denied for table secret_table; grant the user SELECT" in text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT '\\x00ff'::bytea AS photo",
         "the column \"photo\" has type bytea, which recondiff cannot turn into text; convert it "
         "in the query, e.g. encode(\"photo\", 'base64') AS \"photo\""),
        ("SELECT '1 day'::interval AS ttl", 'type interval, which recondiff cannot turn'),
        ("SELECT '10.0.0.1'::inet AS ip", 'e.g. "ip"::text AS "ip"'),
        ("SELECT ARRAY['\\x00'::bytea] AS blobs", 'the column "blobs" has type _bytea'),
        ("SELECT ROW(1, 2) AS pair", 'the column "pair" has type'),
    ],
)
def test_a_column_type_that_cannot_be_text(postgres_server: Postgres, tmp_path: Path,
                                           query: str, says: str) -> None:  # fmt: skip
    assert says in failure(postgres_server, query, tmp_path)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT uid, uid FROM people", 'the column "uid" twice'),
        ('SELECT uid AS "Mail", name AS mail FROM people', 'the column "Mail" and "mail"'),
    ],
)
def test_duplicate_column_names(people: Postgres, tmp_path: Path, query: str, says: str) -> None:
    text = failure(people, query, tmp_path)
    assert says in text and "case-insensitive" in text and "AS" in text


def test_no_rows_is_an_error_unless_allowed(people: Postgres, tmp_path: Path) -> None:
    query = "SELECT uid, groups FROM people WHERE false"
    text = failure(people, query, tmp_path)
    assert "the query returned no rows" in text and "--allow-empty" in text
    out = tmp_path / "empty.parquet"
    table = read(people, query, out, options=ReadOptions(allow_empty=True))
    assert table.num_rows == 0 and table.column_names == ["uid", "groups"]
    assert read_snapshot_info(out).rows == 0


def test_no_columns(people: Postgres, tmp_path: Path) -> None:
    assert "returns no columns" in failure(people, "SELECT FROM people", tmp_path)


@pytest.mark.parametrize(
    "url",
    ["postgresql://recon:pw@127.0.0.1:5432/identities",
     "postgresql://recon@127.0.0.1:5432/identities?sslmode=disable&PASSWORD=pw",
     "postgresql://recon@127.0.0.1:5432/identities?sslpassword=pw"],
)  # fmt: skip
def test_a_url_with_a_password_is_refused(postgres_server: Postgres, tmp_path: Path,
                                          url: str) -> None:  # fmt: skip
    text = failure(postgres_server, "SELECT 1 AS a", tmp_path, url=url)
    assert "holds a password" in text and "pw" not in text.replace("password", "")


# -- the password ----------------------------------------------------------------------


def test_the_password_never_leaves(people: Postgres, tmp_path: Path) -> None:
    """Not in the snapshot's bytes nor its metadata; cut from the server's words
    even where the query makes the server say it."""
    out = tmp_path / "repository.parquet"
    read(people, "SELECT * FROM people", out)
    data = out.read_bytes()
    for form in (people.password, people.password.replace(" ", "%20"), "s3cret"):
        assert form.encode() not in data
    # the server quotes the value it could not read: the password, cut out
    text = failure(people, f"SELECT '{people.password}'::int AS x", tmp_path)
    assert 'invalid input syntax for type integer: "***"' in text


def test_libpq_environment_gives_no_password(people: Postgres, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Without a password and without PGPASSWORD/.pgpass, the login fails (no
    password slips in from elsewhere); the message names the fix."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(InputError, match="password_env or password_file"):
        read_postgresql(people.url, "SELECT 1 AS a", tmp_path / "o.parquet", password=None)


# -- compare on what was read ------------------------------------------------------------


def _load_sample_identities(server: Postgres) -> None:
    """The sample's identities, as ingest reads identities.csv, into a table
    (ADBC bulk ingest as the superuser: text and text[] columns)."""
    options = ReadOptions(multi_valued=("groups", "proxy_addresses", "cost_centers", "applied_policies"))
    table = read_export(SAMPLE / "identities.csv", options=options)
    with pg.connect(server.admin_url) as con, con.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sample_identities")
        cur.adbc_ingest("sample_identities", table, mode="create")
        cur.execute("GRANT SELECT ON sample_identities TO recon")
        con.commit()


def test_compare_on_the_snapshot_read_from_postgresql(postgres_server: Postgres,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """The sample scenario with its identity system in PostgreSQL: read into a
    snapshot, then compared, finds what sample_data/README.md says. (Compare
    reading ``[repository.source] kind = "postgresql"`` itself is the explore
    engineer's integration; this test drives read_postgresql and compare.)"""
    from recondiff.compare import compare

    _load_sample_identities(postgres_server)
    work = tmp_path / "sample"
    shutil.copytree(SAMPLE, work)
    snapshot = work / "identities.parquet"
    read_postgresql(postgres_server.url, "SELECT * FROM sample_identities", snapshot,
                    password=postgres_server.password)  # fmt: skip
    ingested = tmp_path / "ingested.parquet"
    ingest(SAMPLE / "identities.csv", ingested, options=ReadOptions(
        multi_valued=("groups", "proxy_addresses", "cost_centers", "applied_policies")))  # fmt: skip
    assert pq.read_table(snapshot).to_pylist() == pq.read_table(ingested).to_pylist()
    config = work / "recondiff.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('snapshot = "identities.csv"\nformat = "csv"',
                                   'snapshot = "identities.parquet"\nformat = "parquet"'),
                      encoding="utf-8")  # fmt: skip
    assert 'snapshot = "identities.parquet"' in config.read_text(encoding="utf-8")
    result = compare(config, tmp_path / "out")
    expected = json.loads((SAMPLE / "expected_summary.json").read_text())
    assert result.summary["situations"] == expected["situations"]
    assert result.summary["drift"]["by_attribute"] == expected["drift"]["by_attribute"]
    assert result.summary["inputs"]["repository"]["format"] == "parquet"


def test_connection_lost_mid_read_leaves_nothing(postgres_server: Postgres, tmp_path: Path) -> None:
    """The server ends the session after the first batch was written: one line,
    the half-written snapshot is gone and the previous one stays."""

    def kill_after_first_batch(rows: int) -> None:
        postgres_server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'recondiff'")  # fmt: skip

    text = failure(postgres_server,
                   "SELECT 'user' || n AS uid, repeat('x', 50) AS pad FROM generate_series(1, 400000) n",
                   tmp_path, progress=kill_after_first_batch)  # fmt: skip
    # libpq's words depend on when the end is seen: "terminating connection due
    # to administrator command", "server closed the connection unexpectedly", an SSL error
    assert "the connection failed during the query (" in text


# -- TLS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("postgresql://u@db.example.org/x", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://u@db.example.org:5433,db2.example.org/x?sslmode=verify-full", []),
        ("postgresql://u@127.0.0.1:5432/x", []),
        ("postgresql://u@localhost/x", []),
        ("postgresql://u@[::1]:5432/x", []),
        ("postgresql:///x?host=/var/run/postgresql", []),
        ("postgresql://u@127.0.0.1,db.example.org/x", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://u@localhost/x?host=db.example.org", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://u@db.example.org/x?sslrootcert=/etc/my-ca.pem", ["sslmode=verify-full"]),
        ("postgresql://u@localhost/x?hostaddr=10.0.0.5", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://u@localhost/x?host=localhost&hostaddr=10.0.0.5", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql:///x?service=idm", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://u@%2Fvar%2Frun%2Fpostgresql/x", []),
        # libpq reads the user up to the first '@' before a '/': the host is db.example.org
        ("postgresql://127.0.0.1?@db.example.org/x", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        ("postgresql://127.0.0.1#@db.example.org/x", ["sslmode=verify-full", "sslrootcert=SYSTEM"]),
        # libpq's ssl=true is sslmode=require, later than the URL's verify-full
        ("postgresql://u@db.example.org/x?sslmode=verify-full&ssl=true", "REFUSED"),
        ("postgresql://u@db.example.org/x?sslmode=verify-full&requiressl=1", "REFUSED"),
        ("postgresql://u@db.example.org/x?requiressl=1&sslmode=verify-full", []),
    ],
)
def test_tls_verified_by_default_for_another_host(url: str, params: list[str]) -> None:
    from recondiff.ingest.sql_read import tls_parameters

    system = tls_parameters("postgresql://u@db.example.org/x")[1].removeprefix("sslrootcert=")
    assert system  # the system's CA bundle (or "system")
    if params == "REFUSED":
        with pytest.raises(InputError, match="does not check the server's certificate"):
            tls_parameters(url)
        return
    assert tls_parameters(url) == [p.replace("SYSTEM", system) for p in params]


@pytest.mark.parametrize(
    ("variable", "value", "url"),
    [
        ("PGHOST", "db.example.org", "postgresql://u@/x"),
        ("PGHOST", "db.example.org", "postgresql:///x"),
        ("PGHOSTADDR", "10.0.0.5", "postgresql://u@127.0.0.1/x"),
        ("PGSERVICE", "idm", "postgresql://u@localhost/x"),
    ],
)
def test_libpq_environment_counts_as_hosts(variable: str, value: str, url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """libpq takes PGHOST when the URL names no host, PGHOSTADDR when it names no
    hostaddr, and a PGSERVICE's hosts: recondiff asks verify-full for them."""
    from recondiff.ingest.sql_read import tls_parameters

    assert tls_parameters(url) == []
    monkeypatch.setenv(variable, value)
    assert tls_parameters(url)[0] == "sslmode=verify-full"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@evil,@127.0.0.1/x",
        "postgresql://u@127.0.0.1/x?host=%00",
        "postgresql://u@127.0.0.1/x?host",
        "POSTGRESQL://u@127.0.0.1/x",
    ],
)
def test_urls_libpq_reads_otherwise_are_refused(url: str, tmp_path: Path) -> None:
    """Refused before connecting (nothing listens there)."""
    from recondiff.ingest.sql_read import read_postgresql

    with pytest.raises(InputError, match=r"\(\[repository\.source\] url\)$"):
        read_postgresql(url, "SELECT 1 AS a", tmp_path / "o.parquet", password="pw")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_a_url_sslmode_that_does_not_verify_is_refused(mode: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from recondiff.ingest.sql_read import tls_parameters

    url = f"postgresql://u@db.example.org/x?sslmode={mode}"
    with pytest.raises(InputError, match=f"sslmode={mode} does not check the server's certificate"):
        tls_parameters(url)
    assert tls_parameters(url, verify=False) == []
    assert "WARNING: TLS certificate verification is OFF" in capsys.readouterr().err


def test_insecure_skip_tls_verify_encrypts_without_checking(capsys: pytest.CaptureFixture[str]) -> None:
    from recondiff.ingest.sql_read import tls_parameters

    assert tls_parameters("postgresql://u@db.example.org/x", verify=False) == ["sslmode=require"]
    assert "insecure_skip_tls_verify, sslmode=require" in capsys.readouterr().err


def test_the_password_is_url_encoded_in_the_uri() -> None:
    from recondiff.ingest.sql_read import connection_uri

    uri = connection_uri("postgresql://u@127.0.0.1/x?sslmode=disable", "a b&c=d%/#")
    assert uri == ("postgresql://u@127.0.0.1/x?sslmode=disable&password=a%20b%26c%3Dd%25%2F%23"
                   "&connect_timeout=15&application_name=recondiff&client_encoding=UTF8"
                   "&require_auth=%21password")  # fmt: skip


def test_tls_with_ca_file(postgres_server: Postgres, tmp_path: Path) -> None:
    """With ca_file the connection is TLS with the certificate and host name
    checked (verify-full), even on 127.0.0.1; another CA is refused."""
    from tests.conftest import require_system
    from tests.postgres import OPENSSL, make_certificate

    require_system("openssl", OPENSSL is not None)
    assert postgres_server.ca_file is not None
    query = "SELECT ssl::text AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    table = read(postgres_server, query, tmp_path / "tls.parquet", ca_file=postgres_server.ca_file)
    assert table.to_pylist() == [{"ssl": "true"}]
    other = tmp_path / "other.crt"
    make_certificate(other, tmp_path / "other.key", "127.0.0.1")
    text = failure(postgres_server, query, tmp_path, ca_file=other)
    assert "cannot connect (" in text and "certificate verify failed" in text


def test_compare_reads_the_repository_source_itself(postgres_server: Postgres, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The sample with ``[repository.source] kind = "postgresql"`` instead of
    identities.csv: compare reads the database (the explore engineer's
    integration), keeps the snapshot in OUTDIR/snapshots/, and finds what
    sample_data/README.md says; no output holds the password."""
    from recondiff.compare import compare

    _load_sample_identities(postgres_server)
    work = tmp_path / "sample"
    shutil.copytree(SAMPLE, work)
    (work / "identities.csv").unlink()
    config = work / "recondiff.toml"
    text = config.read_text(encoding="utf-8")
    assert 'snapshot = "identities.csv"\nformat = "csv"\n' in text
    text = text.replace('snapshot = "identities.csv"\nformat = "csv"\n', "")
    text += (
        '\n[repository.source]\nkind = "postgresql"\n'
        f'url = "{postgres_server.url}"\npassword_env = "RECONDIFF_TEST_DB_PASSWORD"\n'
        'query = """\nSELECT * FROM sample_identities  -- the identity hub\n"""\n'
    )  # fmt: skip
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("RECONDIFF_TEST_DB_PASSWORD", postgres_server.password)
    out = tmp_path / "out"
    result = compare(config, out)
    expected = json.loads((SAMPLE / "expected_summary.json").read_text())
    assert result.summary["situations"] == expected["situations"]
    assert result.summary["drift"]["by_attribute"] == expected["drift"]["by_attribute"]
    kept = sorted((out / "snapshots").glob("repository-*.parquet"))
    assert len(kept) == 1
    info = read_snapshot_info(kept[0])
    assert info.format == "postgresql" and info.rows == 51 and info.source == postgres_server.url
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert postgres_server.password.encode() not in data, path
            assert b"s3cret" not in data, path


def test_the_query_cannot_turn_read_only_off(writable: Postgres, tmp_path: Path) -> None:
    """A query that sets transaction_read_only off, then writes in the same
    statement: PostgreSQL refuses the switch, since recondiff's own check ran first."""
    query = ("WITH off AS (SELECT set_config('transaction_read_only', 'off', true) AS s), "
             "gone AS (DELETE FROM ledger RETURNING x) SELECT * FROM off, gone")  # fmt: skip
    text = failure(writable, query, tmp_path)
    assert "read-only transaction" in text or "must be set before any query" in text
    assert writable.scalar("SELECT count(*) FROM ledger") == "2"
    query = "SELECT set_config('transaction_read_only', 'off', true) AS s"
    assert "must be set before any query" in failure(writable, query, tmp_path)


@pytest.mark.parametrize("pgpass", [False, True])
def test_no_clear_text_password_without_verified_tls(tmp_path: Path, pgpass: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """On a connection TLS does not verify (here a local one), libpq is told
    require_auth=!password: a server asking the password in clear (the red
    team's fake server on 127.0.0.1) gets nothing, given or from ~/.pgpass,
    and the read fails in one line."""
    from tests.test_sql_read_redteam import FakeServer

    fake = FakeServer()
    if pgpass:
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{fake.port}:*:recon:s3cret\n", encoding="utf-8")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    try:
        with pytest.raises(InputError) as info:
            read_postgresql(f"postgresql://recon@127.0.0.1:{fake.port}/identities",
                            "SELECT 1 AS a", tmp_path / "o.parquet",
                            password=None if pgpass else "s3cret")  # fmt: skip
    finally:
        fake.close()
    assert fake.passwords == [] and "s3cret" not in str(info.value)
    assert "cannot connect" in str(info.value) and "password" in str(info.value)


def test_text_that_is_not_utf8_is_refused(postgres_server: Postgres, tmp_path: Path) -> None:
    """A query that switches client_encoding mid-way (a SQL_ASCII database
    alike) sends bytes that are not UTF-8: one line naming the column, no snapshot."""
    postgres_server.sql("DROP TABLE IF EXISTS latin; CREATE TABLE latin (n text); "
                        "INSERT INTO latin VALUES ('Zoë'); GRANT SELECT ON latin TO recon")  # fmt: skip
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match='the column "n" holds text that is not valid UTF-8'):
        read(postgres_server, "SELECT n FROM latin, "
             "LATERAL (SELECT set_config('client_encoding', 'LATIN1', true)) s", out)  # fmt: skip
    assert not out.exists()


def test_values_at_the_edges(postgres_server: Postgres, tmp_path: Path) -> None:
    """24:00:00 is a time; the last day and microsecond of year 32767 are written;
    NaN and infinities as PostgreSQL writes them, in arrays too."""
    table = read(postgres_server, "SELECT '24:00:00'::time AS t, '32767-12-31'::date AS d, "
                 "'32767-12-31 23:59:59.999999+00'::timestamptz AS z, "
                 "ARRAY['NaN', '-Infinity', '1.5']::float8[] AS f, "
                 "ARRAY['NaN', '-Infinity', '1.50']::numeric[] AS n", tmp_path / "o.parquet")  # fmt: skip
    assert table.to_pylist() == [{"t": "24:00:00", "d": "32767-12-31",
                                  "z": "32767-12-31T23:59:59.999999Z",
                                  "f": ["NaN", "-Infinity", "1.5"],
                                  "n": ["NaN", "-Infinity", "1.50"]}]  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("'32768-01-01'::date", 'the column "v" holds a date after the year 32767'),
        ("'32768-01-01 00:00:00'::timestamp", 'the column "v" holds a timestamp after'),
        ("ARRAY['200000-01-01 00:00:00+00'::timestamptz]", 'the column "v" holds a timestamptz'),
        ("'-12.34'::money", '"v" has type money, which recondiff cannot turn into text; '
                            'convert it in the query, e.g. "v"::numeric'),
        ("ARRAY['1'::money]", '"v" has type money[]'),
    ],
)
def test_values_recondiff_cannot_write_are_refused(postgres_server: Postgres, tmp_path: Path,
                                                   sql: str, words: str) -> None:  # fmt: skip
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match=re.escape(words)):
        read(postgres_server, f"SELECT {sql} AS v", out)
    assert not out.exists()


def test_a_member_of_a_superuser_role_is_refused(postgres_server: Postgres,
                                                 tmp_path: Path) -> None:  # fmt: skip
    """Not a superuser at login, but the query could become one
    (set_config('role', ...)): refused before the query runs, no snapshot."""
    admin = postgres_server.superuser
    postgres_server.sql(f"DROP ROLE IF EXISTS climber; CREATE ROLE climber LOGIN PASSWORD "
                        f"'climb-test-only'; GRANT {admin} TO climber")  # fmt: skip
    url = postgres_server.url.replace("recon@", "climber@")
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match=re.escape("the user is a superuser (or a member of one)")):
        read_postgresql(url, f"SELECT set_config('role', '{admin}', true) AS r", out,
                        password="climb-test-only")  # fmt: skip
    assert not out.exists()


def test_nested_arrays_are_refused_naming_column_and_row(postgres_server: Postgres,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """The driver flattens a 2-D array; recondiff checks each array column's
    dimensions as the rows come (names with quotes, NULL and empty arrays fine)."""
    query = ("SELECT n, ARRAY['x'] AS \"we\"\"ird\", CASE WHEN n = 3 THEN ARRAY[ARRAY[1], "
             "ARRAY[2]] WHEN n = 2 THEN '{}'::int[] END AS m FROM generate_series(1, 4) n "
             "ORDER BY n")  # fmt: skip
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match=re.escape(
        'the column "m" holds an array of more than one dimension (row 3)'
    )):  # fmt: skip
        read(postgres_server, query, out)
    assert not out.exists()
    table = read(postgres_server, query.replace("n = 3", "n = 5"), out)
    assert table.column_names == ["n", 'we"ird', "m"]
    assert table.to_pylist() == [{"n": str(n), 'we"ird': ["x"], "m": [] if n == 2 else None}
                                 for n in range(1, 5)]  # fmt: skip
