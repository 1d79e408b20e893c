-- Duty posts 党员责任岗, second step (package models/duty): objections 异议
-- raised during an assessment's notice window 公示, and idempotency keys of
-- the two writes a party member's phone may retry (claim, duty report).

-- An objection to one member's result in an assessment batch in notice:
-- open, then rejected (with a reply) or corrected (the branch re-scored
-- the item before final). A resident has at most one open objection per
-- item; the check is made under the batch's row lock.
CREATE TABLE IF NOT EXISTS duty_objections (
  id {{ID}},
  assessment_id BIGINT NOT NULL,
  item_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  status VARCHAR(16) NOT NULL,
  reply VARCHAR(500) NOT NULL DEFAULT '',
  resolved_by BIGINT NULL,
  resolved_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_duty_objections_assessment ON duty_objections (assessment_id, status, id);
CREATE INDEX ix_duty_objections_resident ON duty_objections (resident_id, id);

-- The idempotency keys of the writes a party member's phone may retry
-- (kind claim or report): a retry with the same key finds the first row
-- (target_id) instead of writing another. A table of its own rather than a
-- column, so this migration is plain CREATE ... IF NOT EXISTS and can run
-- again on either backend.
CREATE TABLE IF NOT EXISTS duty_request_keys (
  resident_id BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  idempotency_key VARCHAR(64) NOT NULL,
  target_id BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (resident_id, kind, idempotency_key)
) {{TABLE}};
