-- Village rules as scorable items (packages models/catalog, models/awards,
-- models/evidence): rule categories and versioned rule items 积分细则条目 per
-- village, published templates, awards 积分记录 with their batches, the
-- per-subject lock rows that serialise cap checks, self-reports 自主申报,
-- appeals 申诉 and objections 异议, the village settings of all that, and
-- evidence photos. Villages, residents and households are referred to by id.

-- The categories a village scores by (社会公德, 环境卫生, …), editable.
CREATE TABLE IF NOT EXISTS rule_categories (
  id {{ID}},
  village_id BIGINT NOT NULL,
  name VARCHAR(32) NOT NULL,
  position INT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_rule_categories ON rule_categories (village_id, name);

-- Templates published by a township or county (region_id); items_json is
-- the whole catalog as rules' template JSON. Region 0 is never stored: the
-- embedded default template has id 0.
CREATE TABLE IF NOT EXISTS rule_templates (
  id {{ID}},
  region_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  items_json MEDIUMTEXT NOT NULL,
  item_count INT NOT NULL,
  published_by BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_rule_templates_region ON rule_templates (region_id, id);

-- One row per version of an item. Editing inserts version+1 and stamps
-- superseded_at on the old row, so exactly one row per (village, code) has
-- superseded_at NULL: the current version. Awards point at the row id of
-- the version they used.
CREATE TABLE IF NOT EXISTS rule_items (
  id {{ID}},
  village_id BIGINT NOT NULL,
  code VARCHAR(32) NOT NULL,
  version INT NOT NULL,
  category VARCHAR(32) NOT NULL,
  title VARCHAR(100) NOT NULL,
  description VARCHAR(500) NOT NULL DEFAULT '',
  points BIGINT NOT NULL,
  track VARCHAR(16) NOT NULL,
  caps_json VARCHAR(1000) NOT NULL DEFAULT '[]',
  cooldown_seconds BIGINT NOT NULL DEFAULT 0,
  min_photos INT NOT NULL DEFAULT 0,
  award_roles VARCHAR(200) NOT NULL DEFAULT '',
  self_report BOOLEAN NOT NULL DEFAULT FALSE,
  veto BOOLEAN NOT NULL DEFAULT FALSE,
  veto_scope VARCHAR(16) NOT NULL DEFAULT '',
  valid_from DATETIME(6) NULL,
  valid_until DATETIME(6) NULL,
  template_id BIGINT NULL,
  created_by BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  superseded_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_rule_items_version ON rule_items (village_id, code, version);
CREATE INDEX ix_rule_items_village ON rule_items (village_id, superseded_at, category);

-- One row per village that changed the defaults.
CREATE TABLE IF NOT EXISTS award_settings (
  village_id BIGINT NOT NULL PRIMARY KEY,
  confirm_deductions BOOLEAN NOT NULL DEFAULT FALSE,
  appeal_days INT NOT NULL,
  notice_days INT NOT NULL,
  review_sla_hours INT NOT NULL,
  updated_by BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- The lock row of one subject (a household, or a resident without one)
-- for one item code: every award of the item to the subject upserts it
-- first, so cap checks of the same subject and item run one at a time.
CREATE TABLE IF NOT EXISTS award_locks (
  village_id BIGINT NOT NULL,
  item_code VARCHAR(32) NOT NULL,
  subject VARCHAR(16) NOT NULL,
  subject_id BIGINT NOT NULL,
  touched_at DATETIME(6) NOT NULL,
  PRIMARY KEY (village_id, item_code, subject, subject_id)
) {{TABLE}};

-- A batch award for an event: one item, many residents, all or nothing.
-- The batch carries the request's idempotency key; its awards carry none.
CREATE TABLE IF NOT EXISTS award_batches (
  id {{ID}},
  village_id BIGINT NOT NULL,
  rule_item_id BIGINT NOT NULL,
  actor_staff_id BIGINT NOT NULL,
  idempotency_key VARCHAR(128) NOT NULL,
  request_hash BIGINT NOT NULL,
  note VARCHAR(500) NOT NULL DEFAULT '',
  award_count INT NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_award_batches_key ON award_batches (village_id, actor_staff_id, idempotency_key);

-- Awards 积分记录: one rule item version applied to one resident. status is
-- pending (a deduction waiting for a second staff member), posted,
-- rejected (the second staff member refused) or reversed (an appeal or
-- objection overturned it). veto_subject ('resident' or 'household', ''
-- for items without 一票否决) names whom the award vetoes; veto_pending is
-- set while the rankings have not yet been told the award's current state
-- (posted: record the veto, reversed: lift it). The unique key is the idempotency anchor of a
-- single award; batch and self-report awards have no key of their own.
CREATE TABLE IF NOT EXISTS awards (
  id {{ID}},
  village_id BIGINT NOT NULL,
  rule_item_id BIGINT NOT NULL,
  item_code VARCHAR(32) NOT NULL,
  item_version INT NOT NULL,
  item_title VARCHAR(100) NOT NULL,
  resident_id BIGINT NOT NULL,
  household_id BIGINT NOT NULL DEFAULT 0,
  points BIGINT NOT NULL,
  track VARCHAR(16) NOT NULL,
  source VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  batch_id BIGINT NULL,
  self_report_id BIGINT NULL,
  note VARCHAR(500) NOT NULL DEFAULT '',
  photos VARCHAR(500) NOT NULL DEFAULT '',
  actor_staff_id BIGINT NOT NULL,
  idempotency_key VARCHAR(128) NULL,
  request_hash BIGINT NOT NULL DEFAULT 0,
  confirmed_by BIGINT NULL,
  decision_note VARCHAR(500) NOT NULL DEFAULT '',
  posting_id BIGINT NULL,
  reversal_posting_id BIGINT NULL,
  veto_subject VARCHAR(16) NOT NULL DEFAULT '',
  veto_subject_id BIGINT NOT NULL DEFAULT 0,
  veto_pending BOOLEAN NOT NULL DEFAULT FALSE,
  created_at DATETIME(6) NOT NULL,
  posted_at DATETIME(6) NULL,
  decided_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_awards_key ON awards (village_id, actor_staff_id, idempotency_key);
CREATE INDEX ix_awards_subject ON awards (village_id, item_code, household_id, resident_id, created_at);
CREATE INDEX ix_awards_village ON awards (village_id, status, id);
CREATE INDEX ix_awards_resident ON awards (resident_id, id);
CREATE INDEX ix_awards_veto ON awards (veto_pending);

-- Self-reports 自主申报/随手拍: pending in the review queue, needs_info
-- (the reviewer asked for more), approved (award_id names the award) or
-- rejected. The key is the mini-program's idempotency key per resident.
CREATE TABLE IF NOT EXISTS self_reports (
  id {{ID}},
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  rule_item_id BIGINT NOT NULL,
  item_code VARCHAR(32) NOT NULL,
  note VARCHAR(500) NOT NULL DEFAULT '',
  photos VARCHAR(500) NOT NULL DEFAULT '',
  status VARCHAR(16) NOT NULL,
  idempotency_key VARCHAR(128) NOT NULL,
  reviewer_id BIGINT NULL,
  review_note VARCHAR(500) NOT NULL DEFAULT '',
  award_id BIGINT NULL,
  submitted_at DATETIME(6) NOT NULL,
  decided_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_self_reports_key ON self_reports (resident_id, idempotency_key);
CREATE INDEX ix_self_reports_queue ON self_reports (village_id, status, submitted_at);

-- Appeals 申诉 (by the resident concerned, against a posted deduction or a
-- rejected self-report) and objections 异议 (by any resident of the
-- village, against an award on public notice). One per target and
-- resident: the unique index makes a retried submission a replay.
CREATE TABLE IF NOT EXISTS appeals (
  id {{ID}},
  village_id BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  resident_id BIGINT NOT NULL,
  target_type VARCHAR(16) NOT NULL,
  target_id BIGINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  status VARCHAR(16) NOT NULL,
  decided_by BIGINT NULL,
  decision_reason VARCHAR(500) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  decided_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_appeals_target ON appeals (target_type, target_id, resident_id);
CREATE INDEX ix_appeals_village ON appeals (village_id, status, id);

-- Evidence photos, re-encoded without metadata; storage_key names the
-- object in the evidence storage (local disk or S3-compatible).
CREATE TABLE IF NOT EXISTS evidence_files (
  id {{ID}},
  village_id BIGINT NOT NULL,
  uploader VARCHAR(40) NOT NULL,
  storage_key VARCHAR(128) NOT NULL,
  content_type VARCHAR(32) NOT NULL,
  size_bytes BIGINT NOT NULL,
  width INT NOT NULL,
  height INT NOT NULL,
  sha256 CHAR(64) NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_evidence_village ON evidence_files (village_id, id);
