-- The points ledger 积分账本 (package models/ledger): postings, cached
-- balances, idempotency records, redemption holds, the per-village hash
-- chain head, the transactional outbox and its consumers, and the village
-- ledger settings. Villages, residents and households are referred to by id
-- only; this file has no foreign keys into 0001_people.

-- One row per village that changed the defaults.
CREATE TABLE IF NOT EXISTS ledger_settings (
  village_id BIGINT NOT NULL PRIMARY KEY,
  holder_mode VARCHAR(16) NOT NULL,
  spendable_tracks VARCHAR(64) NOT NULL,
  allow_negative_deduction BOOLEAN NOT NULL DEFAULT FALSE,
  expiry_policy VARCHAR(16) NOT NULL,
  expiry_months INT NOT NULL DEFAULT 0,
  updated_by VARCHAR(40) NOT NULL DEFAULT '',
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- Postings are append-only. Only the sealer writes chain_seq, prev_hash and
-- hash, once. reverses_id is unique so a posting is reversed at most once.
CREATE TABLE IF NOT EXISTS ledger_postings (
  id {{ID}},
  village_id BIGINT NOT NULL,
  type VARCHAR(32) NOT NULL,
  track VARCHAR(16) NOT NULL,
  from_kind VARCHAR(24) NOT NULL,
  from_owner BIGINT NOT NULL,
  to_kind VARCHAR(24) NOT NULL,
  to_owner BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  source_type VARCHAR(32) NOT NULL DEFAULT '',
  source_id BIGINT NOT NULL DEFAULT 0,
  actor VARCHAR(40) NOT NULL,
  reason VARCHAR(500) NOT NULL DEFAULT '',
  reverses_id BIGINT NULL,
  hold_id BIGINT NULL,
  created_at DATETIME(6) NOT NULL,
  chain_seq BIGINT NULL,
  prev_hash CHAR(64) NULL,
  hash CHAR(64) NULL,
  CONSTRAINT ck_ledger_postings_amount CHECK (amount > 0)
) {{TABLE}};
CREATE UNIQUE INDEX ux_ledger_postings_reverses ON ledger_postings (reverses_id);
CREATE UNIQUE INDEX ux_ledger_postings_chain ON ledger_postings (village_id, chain_seq);
CREATE INDEX ix_ledger_postings_unsealed ON ledger_postings (chain_seq, village_id);
CREATE INDEX ix_ledger_postings_from ON ledger_postings (village_id, from_owner, from_kind, id);
CREATE INDEX ix_ledger_postings_to ON ledger_postings (village_id, to_owner, to_kind, id);
CREATE INDEX ix_ledger_postings_time ON ledger_postings (village_id, created_at);

-- Cached balances, derived from postings. Holder accounts (resident,
-- household and their held sub-accounts) are updated in the posting's
-- transaction; system accounts (issued, redeemed, ...) only by the sealer,
-- so no posting waits on a village-wide row.
CREATE TABLE IF NOT EXISTS ledger_accounts (
  village_id BIGINT NOT NULL,
  kind VARCHAR(24) NOT NULL,
  owner_id BIGINT NOT NULL,
  track VARCHAR(16) NOT NULL,
  balance BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (village_id, kind, owner_id, track)
) {{TABLE}};

-- One row per request that created postings; the key is scoped by village
-- and actor. result holds the ids of what the request created.
CREATE TABLE IF NOT EXISTS ledger_idempotency (
  village_id BIGINT NOT NULL,
  actor VARCHAR(40) NOT NULL,
  idem_key VARCHAR(128) NOT NULL,
  operation VARCHAR(32) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  result VARCHAR(1000) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (village_id, actor, idem_key)
) {{TABLE}};

-- Redemption holds 冻结: open until captured, released or expired. legs
-- records how much each track contributed ("civic=20,volunteer=10").
CREATE TABLE IF NOT EXISTS ledger_holds (
  id {{ID}},
  village_id BIGINT NOT NULL,
  holder_kind VARCHAR(16) NOT NULL,
  holder_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  legs VARCHAR(200) NOT NULL,
  status VARCHAR(16) NOT NULL,
  source_type VARCHAR(32) NOT NULL DEFAULT '',
  source_id BIGINT NOT NULL DEFAULT 0,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  closed_at DATETIME(6) NULL
) {{TABLE}};
CREATE INDEX ix_ledger_holds_due ON ledger_holds (status, expires_at);
CREATE INDEX ix_ledger_holds_holder ON ledger_holds (village_id, holder_kind, holder_id, status);

-- The head of each village's hash chain. The sealer locks this row, so two
-- sealer replicas never interleave one village's chain.
CREATE TABLE IF NOT EXISTS ledger_chain_heads (
  village_id BIGINT NOT NULL PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash CHAR(64) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- The transactional outbox: one row per posting and consumer, written in
-- the posting's transaction, marked delivered by that consumer's relay.
CREATE TABLE IF NOT EXISTS ledger_outbox (
  consumer VARCHAR(32) NOT NULL,
  posting_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  delivered_at DATETIME(6) NULL,
  PRIMARY KEY (consumer, posting_id)
) {{TABLE}};
CREATE INDEX ix_ledger_outbox_pending ON ledger_outbox (consumer, delivered_at, posting_id);

-- One row per outbox consumer; its relay locks the row for each batch, so
-- relay replicas and a rebuild of that consumer's state take turns.
CREATE TABLE IF NOT EXISTS ledger_consumers (
  name VARCHAR(32) NOT NULL PRIMARY KEY,
  delivered BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
