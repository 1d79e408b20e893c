-- Rankings 排行榜 (package models/ranking): the village settings of the
-- monthly ranking, vetoes 一票否决 that leave a resident or household out of
-- a period's boards, published monthly rankings 月度排名 (immutable snapshot
-- versions with their entries and a digest), objections 异议 raised during
-- the notice window 公示期, and the titles awarded from final rankings.
-- The live leaderboards themselves are in Redis and derived from the
-- ledger. Villages, residents and households are referred to by id only.

-- One row per village that changed the defaults.
CREATE TABLE IF NOT EXISTS ranking_settings (
  village_id BIGINT NOT NULL PRIMARY KEY,
  household_basis VARCHAR(16) NOT NULL,
  red_black_enabled BOOLEAN NOT NULL DEFAULT FALSE,
  notice_days INT NOT NULL,
  committee VARCHAR(100) NOT NULL DEFAULT '',
  updated_by VARCHAR(64) NOT NULL DEFAULT '',
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- Title rules 评选规则: the top_n of a final ranking of subject and track
-- receive title (e.g. top 10 households → 文明之星户).
CREATE TABLE IF NOT EXISTS ranking_title_rules (
  id {{ID}},
  village_id BIGINT NOT NULL,
  subject VARCHAR(24) NOT NULL,
  track VARCHAR(16) NOT NULL,
  top_n INT NOT NULL,
  title VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_ranking_title_rules_village ON ranking_title_rules (village_id, id);

-- A veto names one subject (resident or household) and one period key
-- (2026-03, 2026-Q1, 2026 or all). Lifting it sets revoked_at; vetoing
-- again clears it, so one row per subject and period.
CREATE TABLE IF NOT EXISTS ranking_vetoes (
  id {{ID}},
  village_id BIGINT NOT NULL,
  subject VARCHAR(24) NOT NULL,
  subject_id BIGINT NOT NULL,
  period_key VARCHAR(16) NOT NULL,
  reason VARCHAR(500) NOT NULL DEFAULT '',
  source VARCHAR(64) NOT NULL DEFAULT '',
  created_by VARCHAR(64) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_ranking_vetoes ON ranking_vetoes (village_id, subject, subject_id, period_key);

-- One version of a monthly ranking. A version is never edited: a
-- correction freezes a new version (supersedes_id names the one it
-- replaces). digest is the SHA-256 of the published content (see
-- models/ranking/publication.go); as_of_seq the village's chain_seq it was
-- computed to, so it can be recomputed from the ledger.
CREATE TABLE IF NOT EXISTS ranking_publications (
  id {{ID}},
  village_id BIGINT NOT NULL,
  period_key VARCHAR(16) NOT NULL,
  subject VARCHAR(24) NOT NULL,
  track VARCHAR(16) NOT NULL,
  basis VARCHAR(16) NOT NULL,
  version INT NOT NULL,
  status VARCHAR(16) NOT NULL,
  as_of_seq BIGINT NOT NULL,
  digest CHAR(64) NOT NULL,
  entry_count INT NOT NULL,
  black_count INT NOT NULL DEFAULT 0,
  committee VARCHAR(100) NOT NULL DEFAULT '',
  notice_days INT NOT NULL DEFAULT 0,
  published_at DATETIME(6) NULL,
  notice_ends_at DATETIME(6) NULL,
  finalized_at DATETIME(6) NULL,
  supersedes_id BIGINT NULL,
  created_by VARCHAR(64) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_ranking_publications_version ON ranking_publications (village_id, period_key, subject, track, version);
CREATE INDEX ix_ranking_publications_village ON ranking_publications (village_id, id);

-- The entries of a version: side 'red' is the ranking itself, side 'black'
-- the deductions list of a 红黑榜 (villages that enabled it). name is the
-- full name; every villager-facing output masks it.
CREATE TABLE IF NOT EXISTS ranking_entries (
  publication_id BIGINT NOT NULL,
  side VARCHAR(8) NOT NULL,
  position INT NOT NULL,
  rank_no INT NOT NULL,
  subject_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL DEFAULT '',
  points BIGINT NOT NULL,
  PRIMARY KEY (publication_id, side, position)
) {{TABLE}};

-- Objections 异议 raised by residents during a version's notice window.
CREATE TABLE IF NOT EXISTS ranking_objections (
  id {{ID}},
  publication_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  status VARCHAR(16) NOT NULL,
  reply VARCHAR(500) NOT NULL DEFAULT '',
  resolved_by VARCHAR(64) NOT NULL DEFAULT '',
  resolved_at DATETIME(6) NULL,
  correction_id BIGINT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_ranking_objections_publication ON ranking_objections (publication_id, id);
CREATE INDEX ix_ranking_objections_village ON ranking_objections (village_id, status, id);

-- Titles 称号 awarded when a ranking is finalised.
CREATE TABLE IF NOT EXISTS ranking_titles (
  publication_id BIGINT NOT NULL,
  subject_id BIGINT NOT NULL,
  title VARCHAR(32) NOT NULL,
  village_id BIGINT NOT NULL,
  period_key VARCHAR(16) NOT NULL,
  subject VARCHAR(24) NOT NULL,
  rank_no INT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (publication_id, subject_id, title)
) {{TABLE}};
CREATE INDEX ix_ranking_titles_village ON ranking_titles (village_id, period_key);
