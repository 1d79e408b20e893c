-- The points ledger 积分账本 (package models/ledger): postings (which are
-- also the idempotency records and the outbox), cached balances,
-- redemption holds, the per-village hash chain head, the outbox consumers'
-- cursors, and the village ledger settings. Villages, residents and
-- households are referred to by id only; no foreign keys into 0001_people.

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

-- Postings 流水 are append-only: only the Sealer writes chain_seq,
-- prev_hash and hash, once (the hashes start as '' so that write happens
-- in place). reverses_id is unique, so a posting is reversed at most once.
-- holder_kind/holder_id name the one resident or household whose accounts
-- the posting touches (the other side is a village system account or the
-- same holder's held account), for history and expiry.
-- A request's postings are also its idempotency record and stored result:
-- request_id is a 63-bit hash of (village, actor, idempotency key), the
-- unique index on (village_id, request_id, leg) claims the key when the
-- first posting is inserted, and request_hash fingerprints the request so
-- a reused key with a different request is refused.
CREATE TABLE IF NOT EXISTS ledger_postings (
  id {{ID}},
  village_id BIGINT NOT NULL,
  request_id BIGINT NOT NULL,
  leg INT NOT NULL,
  request_hash BIGINT NOT NULL,
  type VARCHAR(32) NOT NULL,
  track VARCHAR(16) NOT NULL,
  from_kind VARCHAR(24) NOT NULL,
  from_owner BIGINT NOT NULL,
  to_kind VARCHAR(24) NOT NULL,
  to_owner BIGINT NOT NULL,
  holder_kind VARCHAR(16) NOT NULL,
  holder_id BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  source_type VARCHAR(32) NOT NULL DEFAULT '',
  source_id BIGINT NOT NULL DEFAULT 0,
  actor VARCHAR(40) NOT NULL,
  reason VARCHAR(500) NOT NULL DEFAULT '',
  reverses_id BIGINT NULL,
  hold_id BIGINT NULL,
  created_at DATETIME(6) NOT NULL,
  chain_seq BIGINT NULL,
  prev_hash CHAR(64) NOT NULL DEFAULT '',
  hash CHAR(64) NOT NULL DEFAULT '',
  CONSTRAINT ck_ledger_postings_amount CHECK (amount > 0)
) {{TABLE}};
CREATE UNIQUE INDEX ux_ledger_postings_request ON ledger_postings (village_id, request_id, leg);
CREATE UNIQUE INDEX ux_ledger_postings_reverses ON ledger_postings (reverses_id);
-- The chain order; unsealed postings (chain_seq NULL) come first in each
-- village, which is how the Sealer finds them.
CREATE UNIQUE INDEX ux_ledger_postings_chain ON ledger_postings (village_id, chain_seq);
CREATE INDEX ix_ledger_postings_holder ON ledger_postings (village_id, holder_id, holder_kind, id);
CREATE INDEX ix_ledger_postings_time ON ledger_postings (village_id, created_at);

-- Cached balances, derived from postings. Holder accounts (resident,
-- household and their held sub-accounts) are updated in the posting's
-- transaction; system accounts (issued, redeemed, ...) only by the Sealer,
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

-- The head of each village's hash chain. The Sealer locks this row, so two
-- Sealer replicas never interleave one village's chain.
CREATE TABLE IF NOT EXISTS ledger_chain_heads (
  village_id BIGINT NOT NULL PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash CHAR(64) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- The outbox is the postings table itself, read in chain order: a posting
-- is written in its use case's transaction, the Sealer gives it its place
-- (chain_seq, gapless per village), and each consumer keeps a cursor per
-- village of the last chain_seq it has been delivered.
CREATE TABLE IF NOT EXISTS ledger_consumers (
  name VARCHAR(32) NOT NULL PRIMARY KEY,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

CREATE TABLE IF NOT EXISTS ledger_consumer_cursors (
  consumer VARCHAR(32) NOT NULL,
  village_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (consumer, village_id)
) {{TABLE}};
