-- The exact counts the scenario of generate.sql implies, for checking
-- recondiff's summary.json at any size.
SELECT
    count(*) FILTER (WHERE b NOT IN (0, 1, 2))           AS linked,
    count(*) FILTER (WHERE b IN (0, 1))                  AS missing,
    count(*) FILTER (WHERE b = 2)                        AS deleted_in_repository,
    $n // 100                                            AS unmatched,
    count(*) FILTER (WHERE b BETWEEN 3 AND 6)            AS drift_title,
    count(*) FILTER (WHERE b BETWEEN 11 AND 12)          AS drift_memberof,
    count(*) FILTER (WHERE b BETWEEN 3 AND 6 OR b BETWEEN 11 AND 12) AS drift_accounts
FROM range($n) t(i), LATERAL (SELECT i % 200 AS b);
