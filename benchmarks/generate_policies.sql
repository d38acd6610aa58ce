-- The identity-policy scenario (benchmarks/policy_scenario.py has the buckets
-- and the policies), run after generate.sql's `people` table. Buckets by
-- q = hash(i, 'pq') % 1000; generate.sql's buckets b = i % 200 still hold
-- (missing accounts, terminated identities, title drift, case-only changes,
-- an added group).
CREATE OR REPLACE TEMP TABLE hr AS
SELECT
    p.*,
    hash(i, 'pq') % 1000 AS q,
    -- moved: the department at the last sync; the repository holds the new one
    CASE WHEN hash(i, 'pq') % 1000 BETWEEN 20 AND 49
         THEN list_extract(d, (list_position(d, department) + (hash(i, 'mv') % 9)::INT) % 10 + 1)
         ELSE department END AS department_old,
    -- promoted: the title now; the endpoint holds the one of the last sync
    CASE WHEN hash(i, 'pq') % 1000 BETWEEN 50 AND 59
         THEN CASE WHEN title = 'Manager' THEN 'Director' ELSE 'Manager' END
         ELSE title END AS title_now
FROM people p,
     (SELECT ['Engineering','Finance','Sales','Operations','IT','HR','Legal','Marketing','Support','Research'] AS d);

-- The HR data of the last sync, nothing derived yet: the policies' fixed point
-- on it is what the last sync left (table `synced`).
CREATE OR REPLACE TEMP TABLE last_sync_hr AS
SELECT
    i, account AS ad_account, first_name, last_name, title, department_old AS department,
    location, cost_center, employee_type,
    NULL::VARCHAR AS division, NULL::VARCHAR AS office, NULL::VARCHAR AS site_code,
    NULL::VARCHAR AS access_level, NULL::VARCHAR AS company, NULL::VARCHAR AS security_tier,
    NULL::VARCHAR AS vpn_profile, NULL::VARCHAR AS mfa, NULL::VARCHAR AS badge,
    NULL::VARCHAR AS admin_account,
    first_name || ' ' || last_name AS display_name,
    groups,
    []::VARCHAR[] AS applied
FROM hr;

-- evaluate: policy_scenario.generate runs the policies to their fixed point here;
-- The repository now: HR data of today, what the last sync applied, and the
-- buckets' hand edits.
CREATE OR REPLACE TEMP TABLE repo_state AS
SELECT
    h.i, h.account AS ad_account, h.first_name, h.last_name, h.title_now AS title, h.department, h.location,
    h.cost_center, h.employee_type,
    CASE WHEN h.q >= 20 THEN s.division END AS division,
    CASE WHEN h.q >= 20 THEN s.office END AS office,
    CASE WHEN h.q >= 20 THEN s.site_code END AS site_code,
    CASE WHEN h.q >= 20 THEN s.access_level END AS access_level,
    CASE WHEN h.q >= 20 THEN s.company END AS company,
    CASE WHEN h.q >= 20 THEN s.security_tier END AS security_tier,
    CASE WHEN h.q >= 20 THEN s.vpn_profile END AS vpn_profile,
    CASE WHEN h.q >= 20 THEN s.mfa END AS mfa,
    CASE WHEN h.q >= 20 THEN s.badge END AS badge,
    CASE WHEN h.q >= 20 THEN s.admin_account END AS admin_account,
    CASE WHEN h.q < 20 THEN h.first_name || ' ' || h.last_name
         WHEN h.q BETWEEN 60 AND 69 THEN left(h.first_name, 1) || '. ' || h.last_name
         ELSE s.display_name END AS display_name,
    CASE WHEN h.q < 20 THEN h.groups
         WHEN h.q BETWEEN 70 AND 79 THEN list_filter(s.groups, lambda x: x <> crm)
         WHEN h.q BETWEEN 80 AND 84 THEN list_append(s.groups, legacy_group)
         ELSE s.groups END AS groups,
    CASE WHEN h.q < 20 THEN []::VARCHAR[]
         WHEN h.q BETWEEN 80 AND 84 THEN list_append(s.applied, legacy_name)
         ELSE s.applied END AS applied
FROM hr h JOIN synced s USING (i),
     (SELECT $crm::VARCHAR AS crm, $legacy_group::VARCHAR AS legacy_group,
             $legacy_name::VARCHAR AS legacy_name)
ORDER BY h.i;

-- The endpoint mirrors the last sync: the repository's policy values and groups,
-- the HR values of the last sync (old department, old title).
CREATE OR REPLACE TEMP TABLE ep_state AS
SELECT
    h.i, h.b,
    h.title AS title,
    h.department_old AS department,
    r.display_name, r.groups, r.company, r.division, r.office, r.security_tier
FROM hr h JOIN repo_state r USING (i)
ORDER BY h.i;

COPY (
    SELECT
        h.employee_id,
        h.account AS ad_account,
        CASE WHEN h.b = 2 THEN 'terminated' ELSE 'active' END AS status,
        h.first_name,
        h.last_name,
        r.display_name,
        lower(h.account) || '@example.org' AS email,
        r.title,
        r.department,
        r.location,
        h.phone,
        r.cost_center,
        r.employee_type,
        'CN=' || printf('u%09d', h.manager_i) || ',OU=Staff,DC=example,DC=org' AS manager_dn,
        strftime(h.end_date, '%Y-%m-%d') AS end_date,
        r.groups,
        r.division, r.office, r.site_code, r.access_level, r.company, r.security_tier,
        r.vpn_profile, r.mfa, r.badge, r.admin_account,
        r.applied AS applied_policies
    FROM hr h JOIN repo_state r USING (i)
    ORDER BY h.i
) TO $repository_path (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT * EXCLUDE (sort_key) FROM (
        SELECT
            hash(h.i, 'order') AS sort_key,
            h.account AS sAMAccountName,
            'CN=' || h.account || ',OU=' || e.department || ',OU=Staff,DC=example,DC=org' AS distinguishedName,
            h.first_name AS givenName,
            h.last_name AS sn,
            CASE WHEN h.b BETWEEN 7 AND 10 THEN upper(e.display_name) ELSE e.display_name END AS displayName,
            CASE WHEN h.b BETWEEN 7 AND 10 THEN upper(h.account) || '@EXAMPLE.ORG'
                 ELSE lower(h.account) || '@example.org' END AS mail,
            CASE WHEN h.b BETWEEN 3 AND 6 THEN e.title || ' (acting)' ELSE e.title END AS title,
            e.department,
            h.location AS l,
            h.phone AS telephoneNumber,
            h.cost_center AS departmentNumber,
            h.employee_type AS employeeType,
            'CN=' || printf('u%09d', h.manager_i) || ',OU=Staff,DC=example,DC=org' AS manager,
            CASE WHEN h.end_date IS NULL THEN '9223372036854775807'
                 ELSE ((epoch(h.end_date::TIMESTAMP) + 11644473600)::HUGEINT * 10000000)::VARCHAR END AS accountExpires,
            CASE WHEN h.b BETWEEN 11 AND 12
                 THEN list_append(e.groups, 'CN=GG-EXTRA-' || printf('%03d', h.i % 100) || ',OU=Groups,DC=example,DC=org')
                 ELSE e.groups END AS memberOf,
            e.company,
            e.division,
            e.office AS physicalDeliveryOfficeName,
            e.security_tier AS extensionAttribute1
        FROM hr h JOIN ep_state e USING (i)
        WHERE h.b NOT IN (0, 1)
        UNION ALL
        SELECT
            hash(j, 'orphan') AS sort_key,
            printf('orphan%09d', j),
            'CN=' || printf('orphan%09d', j) || ',OU=Orphans,DC=example,DC=org',
            'Orphan', printf('Account %d', j), printf('Orphan Account %d', j),
            printf('orphan%09d', j) || '@orphans.example.net',
            'Unknown', 'Unknown', 'Lyon', NULL, NULL, 'Employee', NULL, '0',
            ['CN=GG-ORPHANS,OU=Groups,DC=example,DC=org'],
            NULL, NULL, NULL, NULL
        FROM range($n // 100) t(j)
    )
    ORDER BY sort_key
) TO $endpoint_path (FORMAT parquet, COMPRESSION zstd)
