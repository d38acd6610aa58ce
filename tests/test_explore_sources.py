"""compare with both sides live: ``[endpoint.source]`` a real slapd, ``[repository.source]``
a real PostgreSQL (tests/postgres.py). Both are explored into OUTDIR/snapshots/ and
the run classifies exactly as it does from the exported files (tests/test_loop.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from tests.postgres import Postgres, postgres_server
from tests.slapd import Slapd
from tests.test_explore import PW_VAR, loop_server, source_config

__all__ = ["loop_server", "postgres_server"]  # the fixtures, imported so pytest finds them

pytestmark = [pytest.mark.system, pytest.mark.slow]  # slapd, ldap-utils, postgresql

PG_VAR = "RD_EXPLORE_TEST_PG_PW"
IDENTITIES = """
CREATE TABLE people (id text, account text, full_name text, last_name text, title text,
                     email text, groups text[], status text);
INSERT INTO people VALUES
 ('1001', 'jdoe', 'John Doe', 'Doe', 'Senior Engineer', 'jdoe@example.org',
  ARRAY['cn=staff,ou=groups,dc=example,dc=org', 'cn=vpn,ou=groups,dc=example,dc=org'], 'active'),
 ('1002', 'asmith', 'Alice Smith', 'Smith', 'Analyst', 'asmith@example.org',
  ARRAY['cn=staff,ou=groups,dc=example,dc=org', 'cn=vpn,ou=groups,dc=example,dc=org'], 'active'),
 ('1003', 'bwong', 'Bo Wong', 'Wong', 'Designer', 'bwong@example.org',
  ARRAY['cn=staff,ou=groups,dc=example,dc=org'], 'terminated'),
 ('1004', NULL, 'Cy Davis', 'Davis', 'Buyer', 'cy.davis@example.org',
  ARRAY['cn=staff,ou=groups,dc=example,dc=org'], 'active'),
 ('1005', 'egreen', 'Eve Green', 'Green', 'Auditor', 'egreen@example.org',
  ARRAY['cn=staff,ou=groups,dc=example,dc=org'], 'active');
GRANT SELECT ON people TO recon;
"""


def test_compare_explores_a_directory_and_an_identity_database(
    loop_server: Slapd, postgres_server: Postgres, tmp_path: Path
) -> None:
    postgres_server.sql(IDENTITIES)
    config = source_config(tmp_path / "run", loop_server)
    text = config.read_text(encoding="utf-8").replace('snapshot = "identities.csv"\n', "")
    text += (
        "\n[repository.source]\n"
        'kind = "postgresql"\n'
        f'url = "{postgres_server.url}"\n'
        f'password_env = "{PG_VAR}"\n'
        'query = "SELECT * FROM people ORDER BY id"\n'
    )
    config.write_text(text, encoding="utf-8")
    (tmp_path / "run" / "identities.csv").unlink()
    out = tmp_path / "run" / "out"
    env = {PW_VAR: loop_server.password, PG_VAR: postgres_server.password}
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(out)], env=env,
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 1, result.stderr
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    explored = summary["run"]["explored"]
    assert explored["endpoint"]["rows"] == 5 and explored["repository"]["rows"] == 5
    assert Path(explored["repository"]["path"]).name.startswith("repository-")
    assert summary["inputs"]["repository"]["path"] == explored["repository"]["path"]
    assert summary["situations"] | {} == {
        "linked": 2, "correlated": 1, "collision": 0, "ambiguous": 0, "unmatched": 1,
        "missing": 1, "deleted_in_repository": 1, "excluded": 0, "duplicate_key": 0,
    }  # fmt: skip
    assert summary["drift"]["by_attribute"] == {"cn": 0, "sn": 0, "title": 1, "memberOf": 2}
    for path in out.rglob("*"):
        if path.is_file():
            assert postgres_server.password.encode() not in path.read_bytes(), path
    # the same source through recondiff explore --side repository; never incremental
    snap = tmp_path / "identities.parquet"
    done = CliRunner().invoke(cli, ["explore", "-c", str(config), "--side", "repository",
                                    "-o", str(snap)], env=env)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 5 and snap.exists()
    refused = CliRunner().invoke(cli, ["explore", "-c", str(config), "--side", "repository",
                                       "--since-last", "-o", str(tmp_path / "d.parquet")],
                                 env=env)  # fmt: skip
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "always read whole" in refused.stderr
    # the source's ca_file reaches the reader: with it the connection verifies the
    # server's certificate (verify-full, even on 127.0.0.1); with another CA it is refused
    assert postgres_server.ca_file is not None
    from tests.postgres import make_certificate

    other = tmp_path / "other.crt"
    make_certificate(other, tmp_path / "other.key", "127.0.0.1")
    for ca_file, code in ((postgres_server.ca_file, 0), (other, 2)):
        config.write_text(text + f'ca_file = "{ca_file}"\n', encoding="utf-8")
        done = CliRunner().invoke(cli, ["explore", "-c", str(config), "--side", "repository",
                                        "-o", str(tmp_path / "tls.parquet")], env=env)  # fmt: skip
        assert done.exit_code == code, done.stderr
    assert "certificate verify failed" in done.stderr
