-- One exception (history/schema.sql); one already recorded from the same plan,
-- ledger line and finding is left as it is.
INSERT OR IGNORE INTO exceptions (
    exception_id, finding_key, config_key, account, identity_key, situation, attribute,
    shown, decision, decided_by, reason, decided_at, until, source_plan, source_seq
) VALUES (
    $exception_id, $finding_key, $config_key, $account, $identity_key, $situation, $attribute,
    $shown, $decision, $decided_by, $reason, $decided_at, $until, $source_plan, $source_seq
);
