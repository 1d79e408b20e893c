-- Which point tracks 积分类别 may pay for a reward (package models/store):
-- a comma-separated list in the ledger's track order ("civic,volunteer");
-- '' means every track the customer's village lets be spent (its ledger
-- settings), which is what every reward did before this column existed.
-- The village's settings bound it: a track the village does not let be
-- spent never pays, even for a reward that names it.
ALTER TABLE store_rewards ADD COLUMN tracks VARCHAR(64) NOT NULL DEFAULT '';

-- revision counts staff edits of a reward (not stock changes). An order
-- may work from a reward it read a moment earlier (a per-replica cache);
-- its conditional stock update names the revision it read, so an edit in
-- between (price, tracks, cost, merchant, limits, shelf) is never missed.
ALTER TABLE store_rewards ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
