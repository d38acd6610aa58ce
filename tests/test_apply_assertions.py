"""The assertion control recondiff builds (pure Python, for ``plan ldif`` and
``apply``) is byte for byte what ldap3 encodes from the same filter's text, and
``recondiff plan ldif`` never imports the LDAP client."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder

from recondiff.plan.assertions import ASSERTION_CONTROL, assertion_control, assertion_filter
from tests.conftest import ROOT

ATTRIBUTES = ["mail", "cn", "uid", "objectGUID", "entryUUID", "mail;lang-en", "2.5.4.3"]

GUIDS = st.uuids().flatmap(
    lambda u: st.sampled_from([str(u), "{" + str(u).upper() + "}", _b64(u)])
)


def _b64(value: uuid.UUID) -> str:
    import base64

    return base64.b64encode(value.bytes_le).decode("ascii")


VALUES = st.one_of(st.text(max_size=300), GUIDS, st.sampled_from(["", " ", "*", "a*b", "(x)", "\\"]))
CONDITIONS = st.lists(
    st.fixed_dictionaries(
        {"attribute": st.sampled_from(ATTRIBUTES), "values": st.lists(VALUES, max_size=4)}
    ),
    max_size=8,
)


def _ldap3_ber(filter_text: str) -> bytes:
    tree = parse_filter(filter_text, None, True, False, None, False)
    return bytes(encoder.encode(compile_filter(tree.elements[0])))


@settings(max_examples=400, deadline=None)
@given(CONDITIONS)
def test_assertion_control_is_what_ldap3_encodes(conditions: list[dict[str, Any]]) -> None:
    text = assertion_filter(conditions)
    control = assertion_control(conditions)
    if text is None:
        assert control is None
        return
    assert control == (ASSERTION_CONTROL, True, _ldap3_ber(text))


def test_plan_ldif_never_imports_ldap3(tmp_path: Path) -> None:
    """``recondiff plan ldif`` writes the assertion controls without the LDAP
    client (the plan layer is below apply): ldap3 is not even imported."""
    from tests.test_apply import JDOE, modify_title, write_plan

    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    script = (
        "import sys\n"
        "from recondiff.cli.main import cli\n"
        "try:\n"
        f"    cli.main(['plan', 'ldif', {str(plan)!r}, '-o', {str(tmp_path / 'c.ldif')!r},"
        " '--allow-unsigned'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ldap3', 'pyasn1')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "control: 1.3.6.1.1.12 true:: " in (tmp_path / "c.ldif").read_text(encoding="utf-8")
    assert done.stdout == "[]\n"
