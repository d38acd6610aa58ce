"""The identity-policy scenario of issue 18 point 6: 50 policies over the
benchmark's identities, a repository that holds what the last sync applied
(most identities in step, some stale, some never synced), an endpoint that
mirrors that last sync, and a reference evaluation of the policies that gives
the exact state recondiff must expect.

    python benchmarks/generate.py 1000000 /var/tmp/rbp/1000000 --policies

The policies (POLICIES) form chains: level-1 policies read HR columns
(department, title, location, employee_type) and set derived columns; level-2
policies read those (division, access_level, company, site_code); level-3 ones
read level-2 outputs (security_tier, vpn_profile); level-4 ones read mfa,
which level 3 sets, so with max_recursion = 3 what they would do is pending.
Two policies conflict with others on a small share (company, division).

Identities by q = hash(i, 'pq') % 1000 (independent of generate.sql's buckets):
    q in 0..19    never synced: no applied policies, no derived values, no policy
                  groups (2%): allocations, chains of 4 levels
    q in 20..49   moved: the department changed in HR since the last sync (3%):
                  deallocation of the old department's policies, allocation of the
                  new ones, division and VPN groups follow (levels 2 and 3)
    q in 50..59   promoted: the title became Manager (Director for managers) (1%):
                  access level, tier, MFA change, the badge is pending (level 4)
    q in 60..69   display name edited by hand in the repository (1%): reapplied by
                  display-name (reapply = true) for employees and interns
    q in 70..79   CRM-Users removed by hand (1%): reapplied by sales-crm for Sales,
                  Marketing and Support
    q in 80..84   a retired policy (legacy-vpn) in the applied list, its group kept
                  (0.5%): an unknown applied name, dropped from the new list
    otherwise     in step: applied list, derived values and groups as the policies
                  give them

The reference evaluator (evaluate_pass) implements the contract's semantics
(/work/policies-contract.md, docs/policies.md) in one SQL statement a pass;
it is the generator's fixed point and the truth the benchmark checks
recondiff's policies.parquet and drift counts against. It formats the
policies' SQL into its statement: the policies are this file's constants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class Policy:
    name: str
    when: str
    sets: dict[str, str] = field(default_factory=dict)
    set_sql: dict[str, str] = field(default_factory=dict)
    grants: tuple[str, ...] = ()  # values of the repository's groups column
    reapply: bool = False


def group(cn: str) -> str:
    return f"CN={cn},OU=Policy Groups,DC=example,DC=org"


DIVISIONS = {
    "Engineering": "Technology",
    "IT": "Technology",
    "Research": "Technology",
    "Finance": "Corporate",
    "HR": "Corporate",
    "Legal": "Corporate",
    "Sales": "Commercial",
    "Marketing": "Commercial",
    "Operations": "Operations",
    "Support": "Operations",
}
OFFICES = {
    "Lyon": "Lyon Part-Dieu",
    "Munich": "Munich Riem",
    "Madrid": "Madrid Castellana",
    "Warsaw": "Warsaw Mokotów",
    "Milan": "Milan Porta Nuova",
    "Oslo": "Oslo Bjørvika",
}
VPN = {
    "Technology": "engineering",
    "Corporate": "office",
    "Commercial": "field",
    "Operations": "field",
}
CRM = group("CRM-Users")
LEGACY = ("legacy-vpn", group("VPN-Legacy"))

POLICIES: list[Policy] = [
    # level 1: HR columns -> derived columns and groups
    *(
        Policy(
            f"dept-{d.lower()}",
            f"department = '{d}'",
            sets={"division": v},
            grants=(group(f"DEPT-{d}"),),
            reapply=d in ("IT", "Finance"),
        )
        for d, v in DIVISIONS.items()
    ),
    *(
        Policy(
            f"site-{city.lower()}",
            f"location = '{city}'",
            sets={"office": office},
            grants=(group(f"SITE-{city}"),),
            reapply=city == "Oslo",
        )
        for city, office in OFFICES.items()
    ),
    Policy(
        "site-code",
        "location IS NOT NULL AND cost_center IS NOT NULL",
        set_sql={"site_code": "upper(left(location, 3)) || '-' || right(cost_center, 4)"},
    ),
    Policy(
        "display-name",
        "employee_type IN ('Employee', 'Intern')",
        set_sql={"display_name": "first_name || ' ' || last_name"},
        reapply=True,
    ),
    Policy(
        "access-manager",
        "title IN ('Manager', 'Director')",
        sets={"access_level": "manager"},
        grants=(group("People-Managers"),),
    ),
    Policy(
        "access-builder",
        "title LIKE '%Engineer' OR title IN ('Technician', 'Administrator')",
        sets={"access_level": "builder"},
    ),
    Policy(
        "access-standard",
        "title NOT IN ('Manager', 'Director', 'Technician', 'Administrator')"
        " AND title NOT LIKE '%Engineer'",
        sets={"access_level": "standard"},
    ),
    Policy(
        "company-employee",
        "employee_type = 'Employee'",
        sets={"company": "Example SA"},
        grants=(group("All-Employees"),),
    ),
    Policy(
        "company-contractor",
        "employee_type = 'Contractor'",
        sets={"company": "Contractor"},
        grants=(group("External-Staff"),),
    ),
    Policy(
        "company-intern",
        "employee_type = 'Intern'",
        sets={"company": "Example SA"},
        grants=(group("Interns"),),
    ),
    Policy(
        "sales-crm", "department IN ('Sales', 'Marketing', 'Support')", grants=(CRM,), reapply=True
    ),
    Policy(
        "finance-approvers",
        "department = 'Finance' AND title IN ('Manager', 'Director', 'Accountant')",
        grants=(group("Finance-Approvers"),),
    ),
    Policy(
        "legal-hold",
        "department = 'Legal' AND title IN ('Manager', 'Director')",
        grants=(group("Legal-Hold-Admins"),),
    ),
    Policy("hr-data", "department = 'HR'", grants=(group("HR-Data-Readers"),)),
    Policy(
        "it-admins",
        "department = 'IT' AND title = 'Administrator'",
        set_sql={"admin_account": "'adm-' || ad_account"},
        grants=(group("Server-Admins"),),
        reapply=True,
    ),
    # deliberate conflicts on a small share: company (with company-contractor),
    # division (with dept-research)
    Policy(
        "oslo-staffing",
        "location = 'Oslo' AND employee_type = 'Contractor' AND cost_center < 'CC-0500'",
        sets={"company": "Nordic Staffing AS"},
        grants=(group("Nordic-Staffing"),),
    ),
    Policy(
        "research-lab",
        "department = 'Research' AND location IN ('Munich', 'Milan') AND cost_center >= 'CC-4500'",
        sets={"division": "Innovation Lab"},
        grants=(group("Innovation-Lab"),),
    ),
    # level 2: what level 1 set
    *(
        Policy(
            f"division-{d.lower()}",
            f"division = '{d}'",
            sets={"vpn_profile": v},
            grants=(group(f"DIV-{d}"),),
        )
        for d, v in VPN.items()
    ),
    Policy(
        "tier-manager",
        "access_level = 'manager'",
        sets={"security_tier": "T1"},
        grants=(group("Approvers"),),
    ),
    Policy(
        "tier-builder",
        "access_level = 'builder'",
        sets={"security_tier": "T2"},
        grants=(group("Build-Agents"),),
    ),
    Policy("tier-standard", "access_level = 'standard'", sets={"security_tier": "T3"}),
    Policy("external-mail", "company = 'Contractor'", grants=(group("Mail-External-Banner"),)),
    Policy(
        "eu-south", "site_code LIKE 'MAD-%' OR site_code LIKE 'MIL-%'", grants=(group("EU-South"),)
    ),
    Policy(
        "eu-north", "site_code LIKE 'OSL-%' OR site_code LIKE 'WAR-%'", grants=(group("EU-North"),)
    ),
    Policy(
        "tech-leads",
        "access_level = 'manager' AND division = 'Technology'",
        grants=(group("Tech-Leads"),),
    ),
    # level 3: what level 2 set
    Policy(
        "mfa-hardware",
        "security_tier = 'T1'",
        sets={"mfa": "hardware-key"},
        grants=(group("MFA-Hardware"),),
        reapply=True,
    ),
    Policy("mfa-app", "security_tier IN ('T2', 'T3')", sets={"mfa": "authenticator"}),
    *(
        Policy(f"vpn-{v}", f"vpn_profile = '{v}'", grants=(group(f"VPN-{v.title()}"),))
        for v in ("engineering", "field", "office")
    ),
    Policy(
        "prod-deploy",
        "security_tier = 'T2' AND vpn_profile = 'engineering'",
        grants=(group("Prod-Deploy"),),
    ),
    # level 4: what level 3 set (pending with max_recursion = 3)
    Policy(
        "badge-secure",
        "mfa = 'hardware-key'",
        sets={"badge": "secure"},
        grants=(group("Badge-Encoders"),),
    ),
    Policy("badge-standard", "mfa = 'authenticator'", sets={"badge": "standard"}),
]
assert len(POLICIES) == 50, len(POLICIES)
assert len({p.name for p in POLICIES}) == 50

# Repository columns the policies set (single-valued), besides display_name.
DERIVED = (
    "division",
    "office",
    "site_code",
    "access_level",
    "company",
    "security_tier",
    "vpn_profile",
    "mfa",
    "badge",
    "admin_account",
)
HR = (
    "ad_account",
    "first_name",
    "last_name",
    "title",
    "department",
    "location",
    "cost_center",
    "employee_type",
)
SET_COLUMNS = (*DERIVED, "display_name")
# Compared attributes the policy scenario adds (endpoint, repository, compare).
POLICY_ATTRIBUTES = [
    ("company", "company", "casefold"),
    ("division", "division", "casefold"),
    ("physicalDeliveryOfficeName", "office", "casefold_trim"),
    ("extensionAttribute1", "security_tier", "exact"),
]


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_list(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]::VARCHAR[]" if values else "[]::VARCHAR[]"


def evaluate_pass(con: duckdb.DuckDBPyConnection, source: str, target: str) -> int:
    """One evaluation pass over table `source` into table `target`, as the
    contract says (deallocations, allocations, reallocations; a conflict keeps
    the column and leaves its policies unapplied). Columns: i, HR, SET_COLUMNS,
    groups, applied, plus alloc_all/dealloc_all/realloc_all (names so far; a
    policy held in a conflict is neither allocated nor reallocated).
    Returns the number of identities that changed."""
    n = range(len(POLICIES))
    ap = [f"coalesce(({p.when}), false) AS ap{k}" for k, p in enumerate(POLICIES)]
    inn = [
        f"list_contains(applied_lc, {_q(p.name.lower())}) AS in{k}" for k, p in enumerate(POLICIES)
    ]
    act = [
        f"(ap{k} AND (NOT in{k} OR {str(p.reapply).lower()})) AS act{k}"
        for k, p in enumerate(POLICIES)
    ]
    de = [f"(in{k} AND NOT ap{k}) AS de{k}" for k in n]

    def candidates(column: str) -> str:
        vals = []
        for k, p in enumerate(POLICIES):
            if column in p.sets:
                vals.append(f"CASE WHEN act{k} THEN {_q(p.sets[column])} END")
            if column in p.set_sql:
                vals.append(f"CASE WHEN act{k} THEN CAST(({p.set_sql[column]}) AS VARCHAR) END")
        return _text_list(vals)

    conflict = [f"list_unique({candidates(c)}) > 1 AS cf_{c}" for c in SET_COLUMNS]
    new_values = [
        f"CASE WHEN cf_{c} THEN {c} ELSE coalesce("
        f"list_filter({candidates(c)}, lambda x: x IS NOT NULL)[1], {c}) END AS {c}"
        for c in SET_COLUMNS
    ]
    conflicted = []
    for k, p in enumerate(POLICIES):
        cols = [*p.sets, *p.set_sql]
        cond = " OR ".join(f"cf_{c}" for c in cols) or "false"
        conflicted.append(f"(act{k} AND ({cond})) AS cfp{k}")

    def grant_list(flag: str) -> str:
        parts = [
            f"CASE WHEN {flag}{k} THEN {_text_list([_q(g) for g in p.grants])} END"
            for k, p in enumerate(POLICIES)
            if p.grants
        ]
        return f"flatten([{', '.join(parts)}])"

    def names(cond: str) -> str:
        return (
            "list_filter("
            + _text_list(
                [
                    f"CASE WHEN {cond.format(k=k)} THEN {_q(p.name)} END"
                    for k, p in enumerate(POLICIES)
                ]
            )
            + ", lambda x: x IS NOT NULL)"
        )

    keep = (
        f"list_filter(g.groups, lambda x: NOT list_contains("
        f"list_filter({grant_list('de')}, lambda y: NOT list_contains({grant_list('ap')}, y)), x))"
    )
    groups = (
        f"list_concat({keep}, list_sort(list_filter(list_distinct({grant_list('act')}), "
        f"lambda x: NOT list_contains({keep}, x))))"
    )
    # names no policy has are kept as they are (the engine's choice; the
    # contract first said dropped), counted as unknown_applied
    known = _text_list([_q(p.name.lower()) for p in POLICIES])
    applied = (
        f"list_concat(list_filter(g.applied, lambda x: NOT list_contains({known}, lower(x))), "
        + names("((in{k} AND NOT de{k}) OR (act{k} AND NOT in{k} AND NOT cfp{k}))")
        + ")"
    )
    changed = " OR ".join(
        [f"g.{c} IS DISTINCT FROM r.{c}" for c in SET_COLUMNS]
        + [
            "list_sort(g.groups) IS DISTINCT FROM list_sort(r.groups)",
            "list_sort(g.applied) IS DISTINCT FROM list_sort(r.applied)",
        ]
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH e AS (
            SELECT *, {", ".join(ap)}, {", ".join(inn)}
            FROM (SELECT *, list_transform(applied, lambda x: lower(x)) AS applied_lc FROM {source})
        ), a AS (SELECT *, {", ".join(act)}, {", ".join(de)} FROM e),
        c AS (SELECT *, {", ".join(conflict)} FROM a),
        g AS (SELECT *, {", ".join(conflicted)} FROM c)
        SELECT g.i, {", ".join("g." + h for h in HR)}, {", ".join(new_values)},
            {groups} AS groups, {applied} AS applied,
            list_concat(g.alloc_all, {names("act{k} AND NOT in{k} AND NOT cfp{k}")}) AS alloc_all,
            list_concat(g.dealloc_all, {names("de{k}")}) AS dealloc_all,
            list_concat(g.realloc_all, {names("act{k} AND in{k} AND NOT cfp{k}")}) AS realloc_all,
            {names("(act{k} AND NOT in{k} AND NOT cfp{k}) OR de{k}")} AS pass_pending
        FROM g
    """)
    # what changed: compare target with source row by row (same order of i)
    row = con.execute(f"""
        SELECT count(*) FROM {target} g JOIN {source} r USING (i) WHERE {changed}
    """).fetchone()
    return int(row[0]) if row else 0


def pending(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """SQL of (i, pending): the policies the next sync would allocate (unless
    held in a conflict, which is a conflict again) or deallocate on `source`:
    one more pass, not applied."""
    evaluate_pass(con, source, "rd_next_sync")
    return "SELECT i, pass_pending AS pending FROM rd_next_sync"


def evaluate(con: duckdb.DuckDBPyConnection, source: str, target: str, passes: int) -> list[int]:
    """Up to `passes` passes from `source`; the result in `target`. Stops early
    when nothing changed. Returns the number of identities changed each pass."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE rd_pass0 AS
        SELECT *, []::VARCHAR[] AS alloc_all, []::VARCHAR[] AS dealloc_all,
               []::VARCHAR[] AS realloc_all FROM {source}""")
    changed: list[int] = []
    current = "rd_pass0"
    for k in range(1, passes + 1):
        nxt = f"rd_pass{k}"
        count = evaluate_pass(con, current, nxt)
        changed.append(count)
        if current != "rd_pass0":
            con.execute(f"DROP TABLE {current}")
        current = nxt
        if count == 0:
            break
    con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS FROM {current}")
    return changed


def config_text(base: str, policies: bool) -> str:
    """The policy scenario's config: the base config (generate.py's CONFIG,
    formatted), the repository's list columns, and with `policies` the
    [policies] table and the 50 [[policy]] entries."""
    if not policies:
        return base
    out = [base, "[policies]", 'applied = "applied_policies"', "max_recursion = 3", ""]
    for p in POLICIES:
        out += ["[[policy]]", f"name = {json.dumps(p.name)}", f"when = {json.dumps(p.when)}"]
        if p.sets:
            out.append(
                "set = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in p.sets.items()) + " }"
            )
        if p.set_sql:
            out.append(
                "set_sql = { "
                + ", ".join(f"{k} = {json.dumps(v)}" for k, v in p.set_sql.items())
                + " }"
            )
        if p.grants:
            out.append("grant = { groups = [" + ", ".join(json.dumps(g) for g in p.grants) + "] }")
        if p.reapply:
            out.append("reapply = true")
        out.append("")
    return "\n".join(out)


def generate(
    con: duckdb.DuckDBPyConnection, n: int, directory: Path, sql: str
) -> dict[str, object]:
    """With generate.sql's `people` table in `con`: the synced state (fixed
    point of the policies on the HR data of the last sync), the repository and
    the endpoint (generate_policies.sql), the reference evaluation with
    max_recursion 3, and the truth. Returns the truth."""
    statements = [s for s in sql.split(";\n") if s.strip()]
    marker = "-- evaluate"
    params = {
        "repository_path": str(directory / "repository.parquet"),
        "endpoint_path": str(directory / "endpoint.parquet"),
        "legacy_name": LEGACY[0],
        "legacy_group": LEGACY[1],
        "crm": CRM,
        "n": n,
    }
    fixed_point: list[int] = []
    for statement in statements:
        if statement.strip().startswith(marker):  # the synced state: the fixed point
            fixed_point = evaluate(con, "last_sync_hr", "synced", 10)
            assert fixed_point[-1] == 0, fixed_point  # reached
            continue
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used)
    passes = evaluate(con, "repo_state", "expected_state", 3)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE expected_pending AS {pending(con, 'expected_state')}"
    )
    con.execute(f"""COPY (
        SELECT printf('E%09d', x.i) AS employee_id, list_sort(x.applied) AS applied,
               list_sort(p.pending) AS pending,
               list_sort(list_distinct(x.alloc_all)) AS allocated,
               list_sort(list_distinct(x.dealloc_all)) AS deallocated,
               list_sort(list_distinct(x.realloc_all)) AS reallocated,
               {", ".join("x." + c for c in SET_COLUMNS)}, list_sort(x.groups) AS groups
        FROM expected_state x JOIN expected_pending p USING (i) ORDER BY x.i
    ) TO '{directory / "reference.parquet"}' (FORMAT parquet, COMPRESSION zstd)""")
    return {
        "fixed_point_changes": fixed_point,
        "changes_by_pass": passes,
        "drift_without": drift(con, "repo_state"),
        "drift_with": drift(con, "expected_state"),
        **reference_counts(con),
    }


def _norm(kind: str, expr: str) -> str:
    return {
        "exact": expr,
        "trim": f"trim({expr})",
        "casefold": f"lower({expr})",
        "casefold_trim": f"lower(trim({expr}))",
        "dn_set": f"list_sort(list_distinct(list_transform({expr}, lambda x: lower(x))))",
    }[kind]


# The compared attributes the scenario can make differ: (endpoint, ep_state
# column, repository column, compare). The others of generate.py's ATTRIBUTES
# never differ (generate.sql).
DRIFT_ATTRIBUTES = [
    ("title", "title", "title", "casefold_trim"),
    ("department", "department", "department", "casefold"),
    ("displayName", "display_name", "display_name", "casefold_trim"),
    ("memberOf", "groups", "groups", "dn_set"),
    ("company", "company", "company", "casefold"),
    ("division", "division", "division", "casefold"),
    ("physicalDeliveryOfficeName", "office", "office", "casefold_trim"),
    ("extensionAttribute1", "security_tier", "security_tier", "exact"),
]


def drift(con: duckdb.DuckDBPyConnection, state: str) -> dict[str, int]:
    """Drift by attribute between the endpoint (ep_state, with generate.sql's
    injected differences) and `state`, over the linked identities, and the
    number of accounts with any."""
    endpoint = {
        "title": "CASE WHEN e.b BETWEEN 3 AND 6 THEN e.title || ' (acting)' ELSE e.title END",
        "groups": "CASE WHEN e.b BETWEEN 11 AND 12 THEN list_append(e.groups, 'CN=GG-EXTRA-'"
        " || printf('%03d', e.i % 100) || ',OU=Groups,DC=example,DC=org') ELSE e.groups END",
    }
    flags = [
        f'{_norm(k, endpoint.get(ec, "e." + ec))} IS DISTINCT FROM {_norm(k, "r." + rc)} AS "{a}"'
        for a, ec, rc, k in DRIFT_ATTRIBUTES
    ]
    names = [a for a, *_ in DRIFT_ATTRIBUTES]
    sums = ", ".join(f'count(*) FILTER (WHERE "{a}")' for a in names)
    anyone = " OR ".join(f'"{a}"' for a in names)
    row = con.execute(f"""
        SELECT {sums}, count(*) FILTER (WHERE {anyone}) FROM (
            SELECT {", ".join(flags)} FROM ep_state e JOIN {state} r USING (i)
            WHERE e.b NOT IN (0, 1, 2))
    """).fetchone()
    assert row is not None
    return dict(zip([*names, "accounts"], (int(v) for v in row), strict=True))


def reference_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What the reference evaluation did, for comparing with summary.json's
    `policies` (whose exact definitions are the engine's)."""
    changed = " OR ".join(
        [f"x.{c} IS DISTINCT FROM r.{c}" for c in SET_COLUMNS]
        + [
            "list_sort(x.groups) <> list_sort(r.groups)",
            "list_sort(x.applied) <> list_sort(r.applied)",
        ]
    )
    row = con.execute(f"""
        SELECT
            count(*) FILTER (WHERE {changed}),
            sum(len(list_distinct(x.alloc_all))), sum(len(list_distinct(x.dealloc_all))),
            sum(len(list_distinct(x.realloc_all))),
            count(*) FILTER (WHERE len(p.pending) > 0), sum(len(p.pending)),
            count(*) FILTER (WHERE list_contains(r.applied, 'legacy-vpn'))
        FROM expected_state x JOIN repo_state r USING (i) JOIN expected_pending p USING (i)
    """).fetchone()
    assert row is not None
    keys = [
        "ref_identities_changed",
        "ref_allocated",
        "ref_deallocated",
        "ref_reallocated",
        "ref_identities_pending",
        "ref_pending",
        "ref_unknown_applied",
    ]
    return dict(zip(keys, (int(v or 0) for v in row), strict=True))
