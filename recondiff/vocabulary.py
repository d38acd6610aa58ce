"""The words recondiff's data flow is spoken in: compare kinds, situations and
responses (docs/semantics.md, docs/plan.md). One definition each; config,
engine, plan and report all read them from here.
"""

from __future__ import annotations

COMPARE_KINDS = (
    "exact",
    "casefold",
    "trim",
    "casefold_trim",
    "dn",
    "set",
    "casefold_set",
    "dn_set",
    "integer",
    "boolean",
    "date",
    "timestamp",
)
SET_KINDS = frozenset({"set", "casefold_set", "dn_set"})

# In the order of docs/design.md's table: a situation's rank is its place here,
# in Python and in SQL (the run's connection binds this list for
# queries/macros/situations.sql rd_situations() and rd_rank()).
SITUATIONS = (
    "linked",
    "correlated",
    "collision",
    "ambiguous",
    "unmatched",
    "missing",
    "deleted_in_repository",
    "excluded",
    "duplicate_key",
)

RESPONSES = (
    "do_nothing",
    "link",
    "unlink",
    "add_to_repository",
    "assign_default_user",
    "delete_from_repository",
    "add_to_endpoint",
    "delete_from_endpoint",
    "disable_in_endpoint",
    "update_endpoint",
    "update_repository",
    "review",
    "reject",
)

# Conservative defaults: nothing is deleted or disabled unless configured.
DEFAULT_SITUATION_RESPONSES: dict[str, str] = {
    "linked": "do_nothing",
    "correlated": "review",
    "collision": "review",
    "ambiguous": "review",
    "unmatched": "review",
    "missing": "review",
    "deleted_in_repository": "review",
    "excluded": "do_nothing",
    "duplicate_key": "do_nothing",
}

# Which responses each situation accepts (docs/plan.md). `review` holds the
# situation's default proposal (REVIEW_PROPOSALS) for an approver.
SITUATION_RESPONSES: dict[str, tuple[str, ...]] = {
    "linked": ("do_nothing", "unlink"),
    "correlated": ("do_nothing", "link", "review"),
    "collision": ("do_nothing", "review"),
    "ambiguous": ("do_nothing", "review"),
    "unmatched": (
        "do_nothing",
        "review",
        "reject",
        "delete_from_endpoint",
        "disable_in_endpoint",
        "add_to_repository",
        "assign_default_user",
    ),
    "missing": ("do_nothing", "review", "add_to_endpoint", "unlink", "delete_from_repository"),
    "deleted_in_repository": (
        "do_nothing",
        "review",
        "disable_in_endpoint",
        "delete_from_endpoint",
        "unlink",
    ),
    "excluded": ("do_nothing", "review"),
    "duplicate_key": ("do_nothing", "review"),
}
REVIEW_PROPOSALS: dict[str, str | None] = {
    "correlated": "link",
    "unmatched": "reject",
    "missing": "add_to_endpoint",
    "deleted_in_repository": "disable_in_endpoint",
}
DRIFT_RESPONSES = ("do_nothing", "update_endpoint", "reject", "review", "update_repository")
DRIFT_KINDS = ("any", "added", "removed", "changed")
