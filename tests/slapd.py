"""A throwaway OpenLDAP server for tests (Debian ``slapd`` 2.5; docs/testing.md lists what it relies on).

``Slapd(directory)`` writes a ``slapd.conf`` into ``directory`` (mdb with
``dbnosync``, suffix ``dc=example,dc=org``, rootdn ``cn=admin,dc=example,dc=org``,
schemas core/cosine/inetorgperson/nis, overlays memberof + refint so that
``memberOf`` follows groupOfNames ``member``, and ppolicy with a default policy
so ``pwdAccountLockedTime`` exists and locks), picks a free port on 127.0.0.1
and runs ``slapd -d 0`` in the foreground as a child::

    with Slapd(tmp_path / "ldap") as ldap:
        ldap.load(DIRECTORY)
        ldap.entry("uid=jdoe,ou=people,dc=example,dc=org")   # {"title": ["Engineer"], ...}
        ldap.kill(); ldap.restart()

The password is passed to the ldap-utils with ``-y FILE``, never on a command line.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import ldap3
import pytest

from tests.conftest import ROOT, require_system

DIRECTORY = ROOT / "tests" / "data" / "ldap" / "directory.ldif"
"""Five people (jdoe, asmith, bwong, cdavis, administrator), groups staff and vpn."""

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
LDAPMODIFY = shutil.which("ldapmodify")
OPENSSL = shutil.which("openssl")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


def available() -> bool:
    """slapd and ldap-utils are installed (else the tests that need them skip or fail)."""
    return bool(SLAPD and LDAPMODIFY and (MODULE_DIR / "back_mdb.so").exists())


CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema

modulepath {modules}
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy

pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
sizelimit unlimited

database mdb
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {dir}/db
dbnosync
index objectClass eq

overlay memberof
memberof-refint TRUE

overlay refint
refint_attributes member
refint_nothing "{admin}"

overlay ppolicy
ppolicy_default "cn=default,ou=policies,{base}"
"""

TLS_CONF = """\
TLSCACertificateFile {dir}/cert.pem
TLSCertificateFile {dir}/cert.pem
TLSCertificateKeyFile {dir}/key.pem
"""

_GROUP_CLASS = re.compile(
    r"^objectclass:\s*(groupofnames|groupofuniquenames|group)\s*$", re.I | re.M
)


class Slapd:
    """One slapd child process; see the module docstring."""

    base = "dc=example,dc=org"
    admin_dn = "cn=admin,dc=example,dc=org"
    password = "s3cret-test-only"

    def __init__(self, directory: Path, *, start: bool = True, tls: bool = False) -> None:
        """``tls=True`` adds a self-signed certificate for 127.0.0.1 (``ca_file``),
        StartTLS on ``url`` and an ``ldaps_url`` listener (needs openssl)."""
        if not available():
            raise RuntimeError("slapd / ldap-utils are not installed")
        self.directory = Path(directory)
        (self.directory / "db").mkdir(parents=True, exist_ok=True)
        self.conf = self.directory / "slapd.conf"
        text = CONF.format(
            schema=SCHEMA_DIR,
            modules=MODULE_DIR,
            dir=self.directory,
            base=self.base,
            admin=self.admin_dn,
            password=self.password,
        )
        self.tls = tls
        self.ca_file: Path | None = None
        if tls:
            self.ca_file = self._certificate()
            head, _, tail = text.partition("\ndatabase mdb")
            text = head + "\n" + TLS_CONF.format(dir=self.directory) + "\ndatabase mdb" + tail
        self.conf.write_text(text, encoding="utf-8")
        self.password_file = self.directory / "password"
        self.password_file.write_text(self.password, encoding="utf-8")  # -y: no newline
        self.password_file.chmod(0o600)
        self.log = self.directory / "slapd.log"
        self.port = 0
        self.tls_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """``ldaps://`` listener (only with ``tls=True``)."""
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def _certificate(self) -> Path:
        if not OPENSSL:
            raise RuntimeError("openssl is not installed")
        cert, key = self.directory / "cert.pem", self.directory / "key.pem"
        subprocess.run(
            [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-addext", "basicConstraints=critical,CA:TRUE"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return cert

    def start(self) -> None:
        """Start on a free port (or, after a first start, the same port)."""
        fixed = self.port != 0
        for _attempt in range(5):
            if not fixed:
                self.port = _free_port()
                self.tls_port = _free_port() if self.tls else 0
            if self._spawn():
                return
            if fixed:
                time.sleep(0.2)  # the old socket may linger a moment
        raise RuntimeError(f"slapd did not start; see {self.log}:\n{self._log_tail()}")

    def _spawn(self) -> bool:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SLAPD), "-f", str(self.conf), "-h", self._listeners(), "-d", "0"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return True
            time.sleep(0.01)
        self.kill()
        return False

    def _listeners(self) -> str:
        urls = [self.url + "/"] + ([self.ldaps_url + "/"] if self.tls else [])
        return " ".join(urls)

    def kill(self) -> None:
        """SIGKILL: the server dies without a clean shutdown (data written so far stays)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM and wait for a clean shutdown."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """Stop (if running) and start again with the same data and port."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Slapd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ----------------------------------------------------------------

    def load(self, ldif: str | Path) -> None:
        """Add the entries of an LDIF file (a Path) or text with ``ldapadd``.

        Groups (groupOfNames and the like) go after everything else, so that
        memberOf is maintained for their members.
        """
        text = ldif.read_text(encoding="utf-8") if isinstance(ldif, Path) else ldif
        records = [r for r in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if _has_dn(r)]
        others = [r for r in records if not _GROUP_CLASS.search(r)]
        groups = [r for r in records if _GROUP_CLASS.search(r)]
        self._utility(["-a"], "\n\n".join(others + groups) + "\n")

    def modify(self, ldif: str | Path) -> None:
        """Apply an LDIF change file (``changetype:`` records) with ``ldapmodify``."""
        text = ldif.read_text(encoding="utf-8") if isinstance(ldif, Path) else ldif
        self._utility([], text)

    def _utility(self, extra: list[str], text: str) -> subprocess.CompletedProcess[str]:
        assert LDAPMODIFY
        command = [LDAPMODIFY, "-x", "-H", self.url, "-D", self.admin_dn, "-y"]
        command += [str(self.password_file), *extra]
        done = subprocess.run(command, input=text, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"ldapmodify failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def connection(self) -> ldap3.Connection:
        """An ldap3 connection bound as the rootdn (the caller unbinds it)."""
        server = ldap3.Server(self.url, get_info=ldap3.NONE)
        return ldap3.Connection(server, self.admin_dn, self.password, auto_bind=True)

    def entry(self, dn: str, *attributes: str) -> dict[str, list[str]] | None:
        """The entry's attributes (names lower-cased, values as strings), or None."""
        wanted = list(attributes) or [ldap3.ALL_ATTRIBUTES, ldap3.ALL_OPERATIONAL_ATTRIBUTES]
        conn = self.connection()
        try:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=wanted)
            if conn.result["result"] == 32:
                return None
            if conn.result["result"] != 0:
                raise RuntimeError(f"search {dn}: {conn.result}")
            raw: dict[str, Any] = conn.response[0]["raw_attributes"]
            return {
                name.lower(): [v.decode("utf-8") for v in values] for name, values in raw.items()
            }
        finally:
            conn.unbind()

    def values(self, dn: str, attribute: str) -> list[str]:
        """One attribute's values (``[]`` when absent; the entry must exist)."""
        found = self.entry(dn, attribute)
        if found is None:
            raise LookupError(dn)
        return found.get(attribute.lower(), [])

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@pytest.fixture
def ldap_server(tmp_path: Path) -> Iterator[Slapd]:
    """A fresh slapd per test, loaded with :data:`DIRECTORY`.

    Skips when slapd is missing, fails instead under RECONDIFF_REQUIRE_SYSTEM=1.
    Use it from another module with ``from tests.slapd import ldap_server``.
    """
    require_system("slapd (Debian packages slapd and ldap-utils)", available())
    server = Slapd(tmp_path / "slapd")
    try:
        server.load(DIRECTORY)
        yield server
    finally:
        server.stop()


def _has_dn(record: str) -> bool:
    return any(line.lower().startswith("dn:") for line in record.splitlines())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
