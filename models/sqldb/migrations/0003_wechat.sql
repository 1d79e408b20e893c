-- The WeChat mini-program: who is calling (package models/identity) and what
-- they are told (package models/notify). Residents, households, villages and
-- staff are referred to by id only; this file has no foreign keys into
-- 0001_people.
--
-- Identifiers that are case-sensitive (openids, token and code hashes) are
-- looked up through a lower-case hex hash column, so MySQL's
-- case-insensitive collation can never make two of them equal.

-- One row per WeChat user of the mini-program (one openid). resident_id is
-- the one resident the user is bound to; staff_id the staff account the
-- user linked, whose roles the mini-program may then use. Both are unique:
-- a resident is bound to at most one WeChat user, a staff account linked to
-- at most one. phone_enc holds the number from getPhoneNumber, sealed.
CREATE TABLE IF NOT EXISTS mp_users (
  id {{ID}},
  openid_hash CHAR(64) NOT NULL,
  openid VARCHAR(128) NOT NULL,
  unionid VARCHAR(128) NOT NULL DEFAULT '',
  resident_id BIGINT NULL,
  village_id BIGINT NULL,
  bound_via VARCHAR(16) NOT NULL DEFAULT '',
  bound_at DATETIME(6) NULL,
  staff_id BIGINT NULL,
  phone_enc VARCHAR(255) NOT NULL DEFAULT '',
  phone_idx VARCHAR(64) NOT NULL DEFAULT '',
  last_login_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_mp_users_openid ON mp_users (openid_hash);
CREATE UNIQUE INDEX ux_mp_users_resident ON mp_users (resident_id);
CREATE UNIQUE INDEX ux_mp_users_staff ON mp_users (staff_id);
CREATE INDEX ix_mp_users_village ON mp_users (village_id, id);

-- Mini-program logins: the hash of each refresh token.
CREATE TABLE IF NOT EXISTS mp_sessions (
  id {{ID}},
  user_id BIGINT NOT NULL,
  refresh_hash CHAR(64) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_mp_sessions_refresh ON mp_sessions (refresh_hash);
CREATE INDEX ix_mp_sessions_user ON mp_sessions (user_id);

-- One-time invite codes 邀请码 a social worker hands a resident (or a
-- household, whose member then says who they are). Only a keyed hash of the
-- code is stored.
CREATE TABLE IF NOT EXISTS mp_invite_codes (
  id {{ID}},
  code_hash CHAR(64) NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NULL,
  household_id BIGINT NULL,
  created_by BIGINT NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  used_at DATETIME(6) NULL,
  used_by BIGINT NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_mp_invite_codes_hash ON mp_invite_codes (code_hash);
CREATE INDEX ix_mp_invite_codes_village ON mp_invite_codes (village_id, id);

-- A phone number from getPhoneNumber that matched several residents waits
-- here for a social worker of one of their villages to say which one.
CREATE TABLE IF NOT EXISTS mp_bind_requests (
  id {{ID}},
  user_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  resident_id BIGINT NULL,
  decided_by BIGINT NULL,
  decided_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_mp_bind_requests_user ON mp_bind_requests (user_id, status);

CREATE TABLE IF NOT EXISTS mp_bind_candidates (
  request_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  PRIMARY KEY (request_id, resident_id)
) {{TABLE}};
CREATE INDEX ix_mp_bind_candidates_village ON mp_bind_candidates (village_id, request_id);

-- Printed household cards 户卡 for villagers without a smartphone: a static
-- code accepted only from a staff scan. Reissuing revokes the previous card.
CREATE TABLE IF NOT EXISTS household_cards (
  id {{ID}},
  household_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  serial VARCHAR(32) NOT NULL,
  status VARCHAR(16) NOT NULL,
  issued_by BIGINT NOT NULL,
  issued_at DATETIME(6) NOT NULL,
  revoked_by BIGINT NULL,
  revoked_at DATETIME(6) NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_household_cards_serial ON household_cards (serial);
CREATE INDEX ix_household_cards_household ON household_cards (household_id, status);

-- The in-app inbox: every notification a resident is sent, whether or not
-- WeChat delivers it. dedup_key lets a producer that may run twice
-- notify once.
CREATE TABLE IF NOT EXISTS notifications (
  id {{ID}},
  resident_id BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  title VARCHAR(100) NOT NULL,
  body VARCHAR(500) NOT NULL,
  data_json TEXT NOT NULL,
  dedup_key VARCHAR(128) NULL,
  read_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_notifications_resident ON notifications (resident_id, id);
CREATE UNIQUE INDEX ux_notifications_dedup ON notifications (kind, dedup_key);

-- The durable queue of subscribe messages 订阅消息, one row per
-- notification: retried with backoff, leased so one replica sends each.
CREATE TABLE IF NOT EXISTS notification_deliveries (
  id {{ID}},
  notification_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL,
  lease_owner VARCHAR(40) NOT NULL DEFAULT '',
  lease_until DATETIME(6) NULL,
  last_error VARCHAR(500) NOT NULL DEFAULT '',
  sent_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_notification_deliveries_notification ON notification_deliveries (notification_id);
CREATE INDEX ix_notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
