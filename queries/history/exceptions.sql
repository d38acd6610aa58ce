-- Recorded exceptions (recondiff exceptions list), newest first, each with its
-- state at $now: active, expired or revoked; only the active ones unless $all,
-- of one config when $config_key is given. Times as ISO 8601 text, UTC.
SELECT * FROM (
    SELECT exception_id AS id, config_key, decision, decided_by AS "by", reason,
           strftime(decided_at, '%Y-%m-%dT%H:%M:%S+00:00') AS "at",
           strftime(until, '%Y-%m-%dT%H:%M:%S+00:00') AS until,
           CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                WHEN until IS NOT NULL AND until <= $now THEN 'expired'
                ELSE 'active' END AS state,
           account, identity_key, situation, attribute, shown, finding_key AS finding,
           strftime(revoked_at, '%Y-%m-%dT%H:%M:%S+00:00') AS revoked_at, revoked_by,
           revoke_reason, source_plan, source_seq
    FROM exceptions
    WHERE $config_key IS NULL OR config_key = $config_key
)
WHERE $all OR state = 'active'
ORDER BY "at" DESC, id;
