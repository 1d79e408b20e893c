-- The points store 积分超市 (package models/store): merchants, rewards with
-- their stock, stock movements, redemption orders, per-month limit
-- counters, low-stock alerts, and the village settings and budgets.
-- Regions, residents, households, ledger holds and postings are referred to
-- by id only; no foreign keys into other packages' tables.

-- A merchant 商户 is a shop that supplies rewards and is settled with for
-- what was handed over. region_id is the village or township whose store it
-- supplies.
CREATE TABLE IF NOT EXISTS store_merchants (
  id {{ID}},
  region_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  contact VARCHAR(100) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_store_merchants_name ON store_merchants (region_id, name);

-- A reward 积分超市商品 of a village's store, or of a township store shared by
-- its villages (region_level says which). stock is what new orders may
-- take; reserved is what open orders hold until they are picked up,
-- cancelled or expire; on hand is their sum. Rewards without stock_tracked
-- (most services) never run out. cost_fen is what one costs the village in
-- fen 分 (integer money). Points are drawn from the village's spendable
-- tracks (ledger settings). photos is a JSON list of URLs or object keys of
-- photos uploaded elsewhere.
CREATE TABLE IF NOT EXISTS store_rewards (
  id {{ID}},
  region_id BIGINT NOT NULL,
  region_level VARCHAR(16) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL,
  description VARCHAR(1000) NOT NULL DEFAULT '',
  points BIGINT NOT NULL,
  cost_fen BIGINT NOT NULL DEFAULT 0,
  limit_resident_month INT NOT NULL DEFAULT 0,
  limit_household_month INT NOT NULL DEFAULT 0,
  on_shelf BOOLEAN NOT NULL DEFAULT FALSE,
  stock_tracked BOOLEAN NOT NULL DEFAULT TRUE,
  stock BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0,
  low_stock_at BIGINT NOT NULL DEFAULT 0,
  valid_from DATETIME(6) NULL,
  valid_until DATETIME(6) NULL,
  merchant_id BIGINT NULL,
  photos VARCHAR(4000) NOT NULL DEFAULT '[]',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  CONSTRAINT ck_store_rewards_stock CHECK (stock >= 0 AND reserved >= 0),
  CONSTRAINT ck_store_rewards_points CHECK (points > 0)
) {{TABLE}};
CREATE UNIQUE INDEX ux_store_rewards_name ON store_rewards (region_id, name);
CREATE INDEX ix_store_rewards_merchant ON store_rewards (merchant_id);

-- Stock movements are the reward's stock book for what people did by hand:
-- restock 入库, write-off 报损 (with a reason) and goods returned with a
-- refund 退货. Reservations and pickups are the orders themselves.
-- (reward_id, request_key) makes a retried movement a replay.
CREATE TABLE IF NOT EXISTS store_stock_movements (
  id {{ID}},
  reward_id BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  delta BIGINT NOT NULL,
  stock_after BIGINT NOT NULL,
  reason VARCHAR(500) NOT NULL DEFAULT '',
  order_id BIGINT NULL,
  staff_id BIGINT NOT NULL DEFAULT 0,
  request_key VARCHAR(200) NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_store_stock_movements_request ON store_stock_movements (reward_id, request_key);

-- A redemption order 兑换单 is one reward line of a request: a mini-program
-- order is one line, a counter sale 现场兑换 one line per reward picked.
-- (village_id, request_id, line_no) is the request's idempotency anchor:
-- request_id is a 63-bit hash of who sent it and their idempotency key, so
-- the first line's insert claims the key; request_hash tells a retry from
-- a reused key. pickup_code is the six-digit code of an open order and is
-- cleared when the order closes, so codes are unique among open orders of
-- a village only. month (YYYYMM, village time) and limit_flags (1 resident,
-- 2 household) name the limit counters the order counts against. capture_postings lists the ledger postings that
-- spent the points, which a refund reverses.
CREATE TABLE IF NOT EXISTS store_orders (
  id {{ID}},
  village_id BIGINT NOT NULL,
  reward_id BIGINT NOT NULL,
  reward_name VARCHAR(100) NOT NULL,
  merchant_id BIGINT NULL,
  quantity INT NOT NULL,
  unit_points BIGINT NOT NULL,
  unit_cost_fen BIGINT NOT NULL,
  points BIGINT NOT NULL,
  cost_fen BIGINT NOT NULL,
  holder_kind VARCHAR(16) NOT NULL,
  holder_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  household_id BIGINT NULL,
  channel VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  pickup_code CHAR(6) NULL,
  expires_at DATETIME(6) NULL,
  hold_id BIGINT NULL,
  capture_postings VARCHAR(200) NOT NULL DEFAULT '',
  request_id BIGINT NOT NULL,
  line_no INT NOT NULL,
  request_hash BIGINT NOT NULL,
  month INT NOT NULL,
  limit_flags INT NOT NULL DEFAULT 0,
  created_by VARCHAR(40) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  completed_at DATETIME(6) NULL,
  completed_by BIGINT NULL,
  closed_at DATETIME(6) NULL,
  closed_by VARCHAR(40) NOT NULL DEFAULT '',
  close_reason VARCHAR(500) NOT NULL DEFAULT '',
  refunded_at DATETIME(6) NULL,
  restocked BOOLEAN NOT NULL DEFAULT FALSE,
  CONSTRAINT ck_store_orders_quantity CHECK (quantity > 0)
) {{TABLE}};
CREATE UNIQUE INDEX ux_store_orders_request ON store_orders (village_id, request_id, line_no);
CREATE UNIQUE INDEX ux_store_orders_pickup ON store_orders (village_id, pickup_code);
CREATE INDEX ix_store_orders_due ON store_orders (status, expires_at);
CREATE INDEX ix_store_orders_holder ON store_orders (village_id, holder_kind, holder_id, id);
-- Reports and statements read by completion time; refunds are few and
-- read through the village's orders.
CREATE INDEX ix_store_orders_completed ON store_orders (village_id, completed_at);

-- How many of a reward a resident or household has redeemed in a month
-- (orders open or completed; cancelled, expired and refunded ones give
-- their count back). The row is locked while an order checks its limit.
CREATE TABLE IF NOT EXISTS store_limit_counters (
  reward_id BIGINT NOT NULL,
  subject_kind VARCHAR(16) NOT NULL,
  subject_id BIGINT NOT NULL,
  month INT NOT NULL,
  quantity BIGINT NOT NULL,
  PRIMARY KEY (reward_id, subject_kind, subject_id, month)
) {{TABLE}};

-- A low-stock alert opens when an order or write-off takes a reward's
-- stock to its low_stock_at mark or below, and closes when a restock lifts
-- it above; the village admin sees the open ones.
CREATE TABLE IF NOT EXISTS store_stock_alerts (
  id {{ID}},
  reward_id BIGINT NOT NULL,
  region_id BIGINT NOT NULL,
  stock BIGINT NOT NULL,
  threshold BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  resolved_at DATETIME(6) NULL
) {{TABLE}};
CREATE INDEX ix_store_stock_alerts_region ON store_stock_alerts (region_id, resolved_at);
CREATE INDEX ix_store_stock_alerts_reward ON store_stock_alerts (reward_id, resolved_at);

-- One row per village that changed the defaults.
CREATE TABLE IF NOT EXISTS store_settings (
  village_id BIGINT NOT NULL PRIMARY KEY,
  pickup_days INT NOT NULL,
  pickup_place VARCHAR(100) NOT NULL DEFAULT '',
  updated_by BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- A village's store budget 年度预算 in fen for one year.
CREATE TABLE IF NOT EXISTS store_budgets (
  village_id BIGINT NOT NULL,
  year INT NOT NULL,
  amount_fen BIGINT NOT NULL,
  updated_by BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (village_id, year)
) {{TABLE}};
