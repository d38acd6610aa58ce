"""``[endpoint.source]`` / ``[repository.source]`` in the config (recondiff/config/source.py).

A source names a live system and how to authenticate; the password comes from
an environment variable or a file, never from the config itself. Each refusal
below is one line naming the file and key; none shows a password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recondiff.config.load import load_config
from recondiff.errors import ConfigError

BASE = """\
[endpoint]
name = "corp"
key = "uid"
{endpoint}
[repository]
key = "id"
{repository}
"""

LDAP = """\
[endpoint.source]
url = "ldap://127.0.0.1:389"
base = "dc=example,dc=org"
bind_dn = "cn=admin,dc=example,dc=org"
"""


def _write(tmp_path: Path, endpoint: str, repository: str = 'snapshot = "ids.csv"') -> Path:
    path = tmp_path / "recondiff.toml"
    path.write_text(BASE.format(endpoint=endpoint, repository=repository), encoding="utf-8")
    return path


def test_a_source_without_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_write(tmp_path, LDAP + 'password_env = "RD_TEST_PW"\n'))
    source = cfg.endpoint.source
    assert source is not None and source.kind == "ldap" and source.page_size == 500
    assert cfg.endpoint.snapshot_from_source
    assert cfg.endpoint.snapshot == Path("snapshots/endpoint.parquet")
    assert cfg.repository.source is None and not cfg.repository.snapshot_from_source
    monkeypatch.setenv("RD_TEST_PW", "hunter2")
    assert source.password() == "hunter2"
    assert "hunter2" not in repr(cfg)


def test_a_source_with_a_snapshot_keeps_it(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, 'snapshot = "ad.csv"\n' + LDAP))
    assert cfg.endpoint.snapshot == tmp_path / "ad.csv"
    assert not cfg.endpoint.snapshot_from_source


def test_password_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    cfg = load_config(_write(tmp_path, LDAP + 'password_file = "pw"\n'))
    assert cfg.endpoint.source is not None
    assert cfg.endpoint.source.password() == "s3cret"


def test_unset_variable_names_the_variable_not_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RD_TEST_PW", raising=False)
    cfg = load_config(_write(tmp_path, LDAP + 'password_env = "RD_TEST_PW"\n'))
    assert cfg.endpoint.source is not None
    with pytest.raises(
        ConfigError, match=r"\[endpoint.source\] password_env: .*RD_TEST_PW is not set"
    ):
        cfg.endpoint.source.password()


def test_password_file_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").mkdir()
    cfg = load_config(_write(tmp_path, LDAP + 'password_file = "pw"\n'))
    assert cfg.endpoint.source is not None
    with pytest.raises(ConfigError, match=r"password_file: .* not a small plain file"):
        cfg.endpoint.source.password()


@pytest.mark.parametrize(
    ("endpoint", "repository", "message"),
    [
        (
            LDAP.replace("ldap://", "ldap://admin:hunter2@"),
            'snapshot = "i.csv"',
            "url: holds a password",
        ),
        (
            'snapshot = "ad.csv"',
            '[repository.source]\nkind = "postgresql"\nurl = "postgresql://u:hunter2@h/db"\nquery = "SELECT 1"',
            r"\[repository.source\] url: holds a password",
        ),
        (
            'snapshot = "ad.csv"',
            '[repository.source]\nkind = "postgresql"\n'
            'url = "postgresql://u@h/db?sslmode=verify-full&Password=hunter2"\nquery = "SELECT 1"',
            r"\[repository.source\] url: holds a password",
        ),
        (LDAP + 'password_env = "A"\npassword_file = "b"\n', 'snapshot = "i.csv"', "not both"),
        (
            LDAP.replace("ldap://", "ldaps://") + "start_tls = true\n",
            'snapshot = "i.csv"',
            "start_tls",
        ),
        (LDAP.replace("ldap://", "https://"), 'snapshot = "i.csv"', "url: must start with ldap://"),
        ('[endpoint.source]\nurl = "ldap://h"\n', 'snapshot = "i.csv"', "base: is required"),
        (LDAP + 'query = "SELECT 1"\n', 'snapshot = "i.csv"', "query: belongs to a postgresql"),
        (LDAP + "pagesize = 7\n", 'snapshot = "i.csv"', "unknown key 'pagesize'.*page_size"),
        (LDAP + "page_size = 0\n", 'snapshot = "i.csv"', "page_size: must be a positive"),
        (
            LDAP.replace('url = "ldap', 'kind = "postgresql"\nurl = "ldap'),
            'snapshot = "i.csv"',
            "postgresql is a repository source",
        ),
        (
            'snapshot = "ad.csv"',
            '[repository.source]\nkind = "postgresql"\nurl = "postgresql://u@h/db"',
            "query: is required",
        ),
        (
            'snapshot = "ad.csv"',
            '[repository.source]\nkind = "postgresql"\nurl = "postgresql://u@h/db"\n'
            'query = "SELECT 1"\nbase = "dc=x"',
            "base: belongs to an LDAP source",
        ),
        ("", 'snapshot = "i.csv"', r"\[endpoint\] is missing required key 'snapshot'"),
    ],
)
def test_refusals(tmp_path: Path, endpoint: str, repository: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(_write(tmp_path, endpoint, repository))
    text = str(caught.value)
    assert "\n" not in text and "hunter2" not in text
    assert str(tmp_path / "recondiff.toml") in text
