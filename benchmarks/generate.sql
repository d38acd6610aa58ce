-- Benchmark scenario at size $n (identities). Deterministic: every "random"
-- choice is a hash of the row number. Injected differences by bucket
-- b = i % 200 (disjoint, so the truth is exact):
--   b in 0..1   missing: the identity's account is absent (1%)
--   b = 2       deleted in repository: status 'terminated', account present (0.5%)
--   b in 3..6   title drift on the account (2%)
--   b in 7..10  case-only change of mail and displayName: NOT drift under casefold (2%)
--   b in 11..12 one group added on the account (1%)
-- plus n/100 orphan accounts that no identity links or matches (1%).
CREATE OR REPLACE TEMP TABLE people AS
SELECT
    i,
    i % 200 AS b,
    printf('E%09d', i) AS employee_id,
    printf('u%09d', i) AS account,
    list_extract(['Alice','Bruno','Chloé','Daniel','Emma','Felix','Giulia','Hugo','Inès','Jonas',
                  'Karin','Léa','Marc','Nina','Oscar','Paula','Quentin','Rosa','Sven','Tomás',
                  'Ursula','Victor','Wanda','Xavier','Yara','Zoé'], (hash(i, 'fn') % 26)::INT + 1) AS first_name,
    list_extract(['Martin','Bernard','Dubois','Müller','Schmidt','Rossi','García','Novak','Jensen','Kowalski',
                  'Laurent','Weber','Fischer','Moreau','Lefèvre','Costa','Nguyen','Ortega','Holm','Becker'],
                 (hash(i, 'ln') % 20)::INT + 1) || CASE WHEN hash(i, 'suffix') % 3 = 0 THEN '-' || (i % 97)::VARCHAR ELSE '' END AS last_name,
    list_extract(['Engineer','Senior Engineer','Analyst','Manager','Director','Technician','Accountant',
                  'Sales Representative','Consultant','Administrator','Designer','Buyer'], (hash(i, 't') % 12)::INT + 1) AS title,
    list_extract(['Engineering','Finance','Sales','Operations','IT','HR','Legal','Marketing','Support','Research'],
                 (hash(i, 'd') % 10)::INT + 1) AS department,
    list_extract(['Lyon','Munich','Madrid','Warsaw','Milan','Oslo'], (hash(i, 'l') % 6)::INT + 1) AS location,
    printf('+33 4 72 %02d %02d %02d', hash(i, 'p1') % 100, hash(i, 'p2') % 100, hash(i, 'p3') % 100) AS phone,
    printf('CC-%04d', hash(i, 'cc') % 5000) AS cost_center,
    list_extract(['Employee','Employee','Employee','Contractor','Intern'], (hash(i, 'et') % 5)::INT + 1) AS employee_type,
    CASE WHEN hash(i, 'end') % 10 = 0 THEN DATE '2027-01-01' + (hash(i, 'ed') % 700)::INT END AS end_date,
    (hash(i, 'mgr') % greatest($n // 20, 1))::BIGINT AS manager_i,
    list_transform(range(5), lambda g: 'CN=GG-' || printf('%05d', hash(i, g) % 3000) || ',OU=Groups,DC=example,DC=org') AS groups
FROM range($n) t(i);

COPY (
    SELECT
        employee_id,
        account AS ad_account,
        CASE WHEN b = 2 THEN 'terminated' ELSE 'active' END AS status,
        first_name,
        last_name,
        first_name || ' ' || last_name AS display_name,
        lower(account) || '@example.org' AS email,
        title,
        department,
        location,
        phone,
        cost_center,
        employee_type,
        'CN=' || printf('u%09d', manager_i) || ',OU=Staff,DC=example,DC=org' AS manager_dn,
        strftime(end_date, '%Y-%m-%d') AS end_date,
        groups
    FROM people
) TO $repository_path (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT * EXCLUDE (sort_key) FROM (
        SELECT
            hash(i, 'order') AS sort_key,
            account AS sAMAccountName,
            'CN=' || account || ',OU=' || department || ',OU=Staff,DC=example,DC=org' AS distinguishedName,
            first_name AS givenName,
            last_name AS sn,
            CASE WHEN b BETWEEN 7 AND 10 THEN upper(first_name || ' ' || last_name)
                 ELSE first_name || ' ' || last_name END AS displayName,
            CASE WHEN b BETWEEN 7 AND 10 THEN upper(account) || '@EXAMPLE.ORG'
                 ELSE lower(account) || '@example.org' END AS mail,
            CASE WHEN b BETWEEN 3 AND 6 THEN title || ' (acting)' ELSE title END AS title,
            department,
            location AS l,
            phone AS telephoneNumber,
            cost_center AS departmentNumber,
            employee_type AS employeeType,
            'CN=' || printf('u%09d', manager_i) || ',OU=Staff,DC=example,DC=org' AS manager,
            CASE WHEN end_date IS NULL THEN '9223372036854775807'
                 ELSE ((epoch(end_date::TIMESTAMP) + 11644473600)::HUGEINT * 10000000)::VARCHAR END AS accountExpires,
            CASE WHEN b BETWEEN 11 AND 12
                 THEN list_append(groups, 'CN=GG-EXTRA-' || printf('%03d', i % 100) || ',OU=Groups,DC=example,DC=org')
                 ELSE groups END AS memberOf
        FROM people
        WHERE b NOT IN (0, 1)
        UNION ALL
        SELECT
            hash(j, 'orphan') AS sort_key,
            printf('orphan%09d', j),
            'CN=' || printf('orphan%09d', j) || ',OU=Orphans,DC=example,DC=org',
            'Orphan', printf('Account %d', j), printf('Orphan Account %d', j),
            printf('orphan%09d', j) || '@orphans.example.net',
            'Unknown', 'Unknown', 'Lyon', NULL, NULL, 'Employee', NULL, '0',
            ['CN=GG-ORPHANS,OU=Groups,DC=example,DC=org']
        FROM range($n // 100) t(j)
    )
    ORDER BY sort_key
) TO $endpoint_path (FORMAT parquet, COMPRESSION zstd);
