"""A throwaway PostgreSQL cluster for tests (Debian package ``postgresql``).

``Postgres()`` makes a fresh cluster with ``initdb`` in a temporary directory,
starts it with ``pg_ctl`` listening on 127.0.0.1 and a free port (its unix
socket in the same directory), and stops it and removes the directory on
:meth:`Postgres.stop`::

    with Postgres() as pg:
        pg.sql("CREATE TABLE t (x text)")            # as the superuser, over the socket
        pg.url                                       # postgresql://recon@127.0.0.1:PORT/identities
        pg.password                                  # the test role's password

TCP connections (the ones recondiff makes) need a password: ``pg_hba.conf``
says ``scram-sha-256`` for 127.0.0.1, ``trust`` only for the unix socket, which
the fixture itself uses through ``psql``. The cluster has one database,
``identities``, owned by the superuser; the role ``recon`` may connect and is
granted what each test grants it. With openssl installed, the server also
offers TLS with a self-signed certificate for 127.0.0.1 (``ca_file``).

initdb and the server refuse to run as root: as root they run as the Debian
package's ``postgres`` user, in a directory under ``/tmp`` that user owns
(pytest's ``tmp_path`` is private to root). Passwords go to initdb with
``--pwfile`` and to ``psql`` never (trust over the socket): no password on a
command line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.conftest import require_system

WHAT = "PostgreSQL (Debian package postgresql)"
RUN_AS = "postgres"  # the Debian package's user: initdb refuses root
OPENSSL = shutil.which("openssl")


def bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb, pg_ctl and psql."""
    found = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        directory = initdb.parent
        version = directory.parent.name
        if (directory / "pg_ctl").exists() and (directory / "psql").exists() and version.isdigit():
            found.append((int(version), directory))
    return max(found)[1] if found else None


def available() -> bool:
    """The binaries are installed (and, as root, there is a user to run them as)."""
    if bin_dir() is None:
        return False
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return False
    return True


class Postgres:
    """One cluster; see the module docstring."""

    superuser = "recondiff_admin"
    user = "recon"
    database = "identities"
    password = "pg s3cret/@&%?#:test-only"  # characters a URL must encode
    admin_password = "pg-admin-s3cret-test-only"

    def __init__(self) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed")
        self.bin = binaries
        self.directory = Path(tempfile.mkdtemp(prefix="recondiff-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.port = 0
        self.ca_file: Path | None = None
        try:
            self._initdb()
            if OPENSSL:
                self.ca_file = self._certificate()
            self.start()
            self._setup_roles()
        except BaseException:
            self.stop()
            raise

    # -- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The test role's URL, without a password (recondiff gets that separately)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary as the cluster's owner, in its directory."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
        done = subprocess.run(
            command, cwd=self.directory, env=env, capture_output=True, text=True,
            timeout=120, **self._as, **kwargs,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def _initdb(self) -> None:
        pwfile = self.directory / "admin.pw"
        pwfile.write_text(self.admin_password + "\n", encoding="utf-8")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        pwfile.chmod(0o600)
        self._run([
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.superuser,
            f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ])  # fmt: skip
        pwfile.unlink()
        # TCP on 127.0.0.1 only, with a password; nothing else
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8"
        )

    def _certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1 and localhost (its own CA):
        the server offers TLS, a client verifies it with ``ca_file``."""
        cert, key = self.directory / "server.crt", self.directory / "server.key"
        make_certificate(cert, key, "127.0.0.1")
        if self._as:
            os.chown(key, self._as["user"], self._as["group"])
        key.chmod(0o600)
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n")
        return cert

    def start(self) -> None:
        """Start on a free port (a port taken meanwhile: try another)."""
        for _attempt in range(5):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c shared_buffers=16MB -c max_connections=20"
            )
            with contextlib.suppress(RuntimeError):
                self._run([
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                    "-o", options, "-w", "-t", "60", "start",
                ])  # fmt: skip
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start; see {self.log}:\n{self._log_tail()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"])  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ------------------------------------------------------------------

    def _setup_roles(self) -> None:
        self.sql(f"CREATE DATABASE {self.database}", database="postgres")
        self.sql(f"CREATE ROLE {self.user} LOGIN", database="postgres")
        # the password as a literal inside psql's stdin, never on a command line
        self.sql(f"ALTER ROLE {self.user} PASSWORD '{self.password}'", database="postgres")
        self.sql(f"GRANT CONNECT ON DATABASE {self.database} TO {self.user}")

    @property
    def admin_url(self) -> str:
        """The superuser's URL over TCP, with its password (for the tests' own
        loading, e.g. ADBC's bulk ingest; never given to recondiff)."""
        return (
            f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{self.database}"
            f"?password={self.admin_password}"
        )

    def sql(self, text: str, database: str | None = None) -> str:
        """Run SQL as the superuser over the unix socket (psql, stops on the first error)."""
        return self._psql(["-f", "-"], database, text).stdout

    def scalar(self, query: str) -> str:
        """One value, as psql prints it unaligned."""
        return self._psql(["-t", "-A", "-c", query]).stdout.strip()

    def copy_csv(self, query: str, out: Path) -> None:
        """``\\copy (query) TO out CSV HEADER``: the CSV export an operator would make."""
        text = self._psql(["-c", f"\\copy ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"])
        out.write_text(text.stdout, encoding="utf-8")

    def _psql(
        self, args: list[str], database: str | None = None, text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                   "-h", str(self.directory), "-p", str(self.port), "-U", self.superuser,
                   "-d", database or self.database, *args]  # fmt: skip
        return self._run(command, input=text)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Postgres]:
    """A cluster per test module (starting one takes a few seconds): tests
    create their own tables. Skips when PostgreSQL is missing, fails instead
    under RECONDIFF_REQUIRE_SYSTEM=1. Use it from another module with
    ``from tests.postgres import postgres_server``."""
    require_system(WHAT, available())
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


def make_certificate(cert: Path, key: Path, name: str) -> None:
    """A self-signed certificate (CA:TRUE) for ``name`` (an IP address) and localhost."""
    assert OPENSSL
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=IP:{name},DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
