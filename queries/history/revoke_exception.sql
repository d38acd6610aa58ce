-- Revoke one exception: recorded (when, by whom, why), never deleted. An
-- exception already revoked is left as it is (nothing returned).
UPDATE exceptions SET revoked_at = $at, revoked_by = $by, revoke_reason = $reason
WHERE exception_id = $exception_id AND revoked_at IS NULL
RETURNING exception_id;
