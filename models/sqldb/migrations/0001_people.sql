-- Regions, households, residents, staff accounts and the audit log.

CREATE TABLE IF NOT EXISTS regions (
  id {{ID}},
  parent_id BIGINT NULL,
  level VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL,
  code VARCHAR(32) NOT NULL,
  path VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_regions_code ON regions (code);
CREATE INDEX ix_regions_parent ON regions (parent_id);
CREATE INDEX ix_regions_path ON regions (path);

CREATE TABLE IF NOT EXISTS households (
  id {{ID}},
  village_id BIGINT NOT NULL,
  grid_id BIGINT NULL,
  number VARCHAR(32) NOT NULL,
  address VARCHAR(255) NOT NULL DEFAULT '',
  head_name VARCHAR(64) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_households_village_number ON households (village_id, number);

CREATE TABLE IF NOT EXISTS residents (
  id {{ID}},
  village_id BIGINT NOT NULL,
  household_id BIGINT NULL,
  grid_id BIGINT NULL,
  name VARCHAR(64) NOT NULL,
  gender VARCHAR(8) NOT NULL DEFAULT '',
  relation VARCHAR(32) NOT NULL DEFAULT '',
  registered BOOLEAN NOT NULL DEFAULT TRUE,
  party_member BOOLEAN NOT NULL DEFAULT FALSE,
  phone_enc VARCHAR(255) NOT NULL DEFAULT '',
  phone_idx VARCHAR(64) NOT NULL DEFAULT '',
  id_number_enc VARCHAR(255) NOT NULL DEFAULT '',
  id_number_idx VARCHAR(64) NOT NULL DEFAULT '',
  status VARCHAR(16) NOT NULL DEFAULT 'active',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_residents_village ON residents (village_id, id);
CREATE INDEX ix_residents_household ON residents (household_id);
CREATE INDEX ix_residents_phone ON residents (phone_idx);
CREATE INDEX ix_residents_id_number ON residents (id_number_idx);

CREATE TABLE IF NOT EXISTS staff_users (
  id {{ID}},
  username VARCHAR(64) NOT NULL,
  display_name VARCHAR(64) NOT NULL,
  phone_enc VARCHAR(255) NOT NULL DEFAULT '',
  resident_id BIGINT NULL,
  household_id BIGINT NULL,
  password_hash VARCHAR(255) NOT NULL,
  disabled BOOLEAN NOT NULL DEFAULT FALSE,
  failed_logins INT NOT NULL DEFAULT 0,
  locked_until DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_staff_username ON staff_users (username);

CREATE TABLE IF NOT EXISTS role_assignments (
  id {{ID}},
  staff_id BIGINT NOT NULL,
  role VARCHAR(32) NOT NULL,
  region_id BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_role_assignment ON role_assignments (staff_id, role, region_id);
CREATE INDEX ix_role_assignment_region ON role_assignments (region_id);

CREATE TABLE IF NOT EXISTS staff_sessions (
  id {{ID}},
  staff_id BIGINT NOT NULL,
  refresh_hash VARCHAR(64) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  ip VARCHAR(64) NOT NULL DEFAULT ''
) {{TABLE}};
CREATE UNIQUE INDEX ux_staff_sessions_refresh ON staff_sessions (refresh_hash);
CREATE INDEX ix_staff_sessions_staff ON staff_sessions (staff_id);

CREATE TABLE IF NOT EXISTS audit_log (
  id {{ID}},
  actor_id BIGINT NOT NULL,
  actor_name VARCHAR(64) NOT NULL DEFAULT '',
  village_id BIGINT NULL,
  action VARCHAR(64) NOT NULL,
  target_type VARCHAR(32) NOT NULL,
  target_id BIGINT NOT NULL DEFAULT 0,
  before_json TEXT NULL,
  after_json TEXT NULL,
  request_id VARCHAR(64) NOT NULL DEFAULT '',
  ip VARCHAR(64) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_audit_village_time ON audit_log (village_id, id);
CREATE INDEX ix_audit_actor ON audit_log (actor_id, id);
