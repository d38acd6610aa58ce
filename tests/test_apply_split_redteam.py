"""Second reader of the apply split (recondiff/apply/execute.py -> apply/{runner,
transport,journal}.py, plan/{checks,assertions}.py): behaviour the split must
not have changed, tried as someone who writes the plan or the config.

Each test here passes on the code before the split (4403822; the imports fall
back to recondiff.apply.execute so that the file runs there too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder

from tests.slapd import Slapd, ldap_server
from tests.test_apply import JDOE, change, event, pre, target, write_plan

try:
    from recondiff.apply.runner import apply_plan
    from recondiff.plan.assertions import assertion_control as _control
    from recondiff.plan.assertions import assertion_filter

    def assertion_control(conditions: list[dict[str, Any]]) -> tuple[str, bool, bytes] | None:
        return _control(conditions)

except ImportError:  # the code before the split
    from recondiff.apply.execute import (  # type: ignore[no-redef,import-untyped,import-not-found,unused-ignore]
        apply_plan,
        assertion_filter,
    )
    from recondiff.apply.execute import assertion_control as _old_control

    def assertion_control(conditions: list[dict[str, Any]]) -> tuple[str, bool, bytes] | None:
        text = assertion_filter(conditions)
        return None if text is None else _old_control(text)


__all__ = ["ldap_server"]

GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def _ldap3_ber(filter_text: str) -> bytes:
    tree = parse_filter(filter_text, None, True, False, None, False)
    return bytes(encoder.encode(compile_filter(tree.elements[0])))


# -- the hand-made BER of the assertion control ------------------------------------------


@pytest.mark.parametrize(
    "conditions",
    [
        [pre("title\n", "Engineer")],
        [pre("mail\n")],
        [pre("objectGUID\n", GUID)],  # not objectGUID: the value is text, as before
        [pre("title\n", "Engineer"), pre("mail;lang-en\n"), pre("2.5.4.3\n", "x" * 300)],
    ],
    ids=["equality", "absent", "guid", "several"],
)
def test_control_of_a_name_ending_in_a_newline_is_ldap3s(
    conditions: list[dict[str, Any]],
) -> None:
    """The attribute check lets one trailing newline through (``$`` in the
    pattern); ldap3 strips it from the filter's text, so the control the code
    before the split sent (and ``plan ldif`` wrote) named ``title``. The hand
    encoder sent ``title\\n``, an attribute no server has: the same plan's
    modify went from applied to stale."""
    text = assertion_filter(conditions)
    assert text is not None
    assert assertion_control(conditions) == ("1.3.6.1.1.12", True, _ldap3_ber(text))


NAMES = st.from_regex(
    r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$"
)  # the attribute check's own pattern: hypothesis ends some names with its "\n"
CONDITIONS = st.lists(
    st.fixed_dictionaries(
        {
            "attribute": st.one_of(NAMES, st.sampled_from(["objectGUID", "objectGUID\n"])),
            "values": st.lists(st.one_of(st.text(max_size=40), st.just(GUID)), max_size=3),
        }
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(CONDITIONS)
def test_control_is_ldap3s_for_every_name_the_check_accepts(
    conditions: list[dict[str, Any]],
) -> None:
    text = assertion_filter(conditions)
    assert text is not None
    assert assertion_control(conditions) == ("1.3.6.1.1.12", True, _ldap3_ber(text))


def test_a_precondition_named_with_a_newline_applies_as_before(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """End to end on slapd: the modify applies, as it did before the split."""
    plan = write_plan(
        tmp_path / "plan.json",
        [
            event(
                "modify",
                JDOE,
                [change("delete", "title", "Engineer"), change("add", "title", "Lead")],
                [pre("title\n", "Engineer")],
            )
        ],
    )
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"], result.outcomes
    assert ldap_server.values(JDOE, "title") == ["Lead"]
