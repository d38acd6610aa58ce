-- Action plan, step 3b when the endpoint export has no entryUUID or objectGUID
-- column (plan/uuids.sql): no account is asserted by it; `plan show` says so.
CREATE OR REPLACE TEMP TABLE plan_uuid (ep_row BIGINT, uuid VARCHAR);
