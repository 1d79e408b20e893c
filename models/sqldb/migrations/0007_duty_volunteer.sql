-- Volunteer activities 志愿服务 (package models/volunteer) and party-member
-- duty posts 党员责任岗 (package models/duty). Residents, staff and postings
-- are referred to by id only; no foreign keys into other packages' tables.

-- A volunteer activity 志愿活动. enrolled counts sign-ups holding a place, so
-- the capacity check is one locked row; CHECK keeps it honest. lat/lng are
-- optional (WGS-84); with them, scans must fall within radius_m.
CREATE TABLE IF NOT EXISTS volunteer_activities (
  id {{ID}},
  village_id BIGINT NOT NULL,
  title VARCHAR(100) NOT NULL,
  description VARCHAR(2000) NOT NULL DEFAULT '',
  organiser VARCHAR(100) NOT NULL DEFAULT '',
  place VARCHAR(200) NOT NULL DEFAULT '',
  lat DOUBLE NULL,
  lng DOUBLE NULL,
  radius_m INT NOT NULL DEFAULT 0,
  starts_at DATETIME(6) NOT NULL,
  ends_at DATETIME(6) NOT NULL,
  signup_opens_at DATETIME(6) NOT NULL,
  signup_closes_at DATETIME(6) NOT NULL,
  capacity INT NOT NULL,
  enrolled INT NOT NULL DEFAULT 0,
  points_per_hour BIGINT NOT NULL DEFAULT 0,
  fixed_points BIGINT NOT NULL DEFAULT 0,
  daily_cap_minutes INT NOT NULL DEFAULT 0,
  track VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  created_by BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  CONSTRAINT ck_volunteer_activities_capacity CHECK (enrolled >= 0 AND enrolled <= capacity)
) {{TABLE}};
CREATE INDEX ix_volunteer_activities_village ON volunteer_activities (village_id, starts_at);

-- A sign-up 报名 of one resident to one activity: enrolled, waitlisted or
-- cancelled; then check-in/out 签到/签退 (by scan, with the distance, or by
-- staff with a reason) and the organiser's confirmation, which posts the
-- points (posting_id). The row is the posting's idempotency anchor.
CREATE TABLE IF NOT EXISTS volunteer_signups (
  id {{ID}},
  activity_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  household_id BIGINT NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL,
  checked_in_at DATETIME(6) NULL,
  check_in_by VARCHAR(32) NOT NULL DEFAULT '',
  check_in_distance_m INT NULL,
  check_in_reason VARCHAR(200) NOT NULL DEFAULT '',
  checked_out_at DATETIME(6) NULL,
  check_out_by VARCHAR(32) NOT NULL DEFAULT '',
  check_out_distance_m INT NULL,
  check_out_reason VARCHAR(200) NOT NULL DEFAULT '',
  attendance VARCHAR(16) NOT NULL DEFAULT 'pending',
  minutes INT NOT NULL DEFAULT 0,
  points BIGINT NOT NULL DEFAULT 0,
  posting_id BIGINT NULL,
  confirmed_by BIGINT NULL,
  confirmed_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_volunteer_signups_resident ON volunteer_signups (activity_id, resident_id);
CREATE INDEX ix_volunteer_signups_resident ON volunteer_signups (resident_id, attendance);

-- A duty post 党员责任岗 of a village. claimed counts pending and approved
-- claims, so a claim waiting for approval already holds its seat.
CREATE TABLE IF NOT EXISTS duty_posts (
  id {{ID}},
  village_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  duties VARCHAR(2000) NOT NULL DEFAULT '',
  capacity INT NOT NULL,
  claimed INT NOT NULL DEFAULT 0,
  base_points BIGINT NOT NULL DEFAULT 0,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  CONSTRAINT ck_duty_posts_capacity CHECK (claimed >= 0 AND claimed <= capacity)
) {{TABLE}};
CREATE UNIQUE INDEX ux_duty_posts_name ON duty_posts (village_id, name);

-- A village's duty settings: assessment period (month or quarter), how
-- many posts one member may hold, the grade → points rule (JSON) and the
-- notice days. The row is also the lock that serialises a village's claims.
CREATE TABLE IF NOT EXISTS duty_settings (
  village_id BIGINT NOT NULL PRIMARY KEY,
  period VARCHAR(16) NOT NULL DEFAULT 'month',
  max_posts INT NOT NULL DEFAULT 1,
  grade_points VARCHAR(500) NOT NULL DEFAULT '',
  notice_days INT NOT NULL DEFAULT 5,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};

-- A claim 认领 of a post by a party member: pending, approved, rejected or
-- released.
CREATE TABLE IF NOT EXISTS duty_claims (
  id {{ID}},
  post_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  decided_by BIGINT NULL,
  decided_at DATETIME(6) NULL,
  reason VARCHAR(200) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_duty_claims_post ON duty_claims (post_id, status);
CREATE INDEX ix_duty_claims_resident ON duty_claims (resident_id, status);

-- A duty report 履职纪实 filed by a member on one day.
CREATE TABLE IF NOT EXISTS duty_reports (
  id {{ID}},
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  post_id BIGINT NOT NULL,
  report_date DATE NOT NULL,
  content VARCHAR(2000) NOT NULL,
  photos VARCHAR(4000) NOT NULL DEFAULT '[]',
  lat DOUBLE NULL,
  lng DOUBLE NULL,
  created_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE INDEX ix_duty_reports_resident ON duty_reports (village_id, resident_id, report_date);

-- An assessment batch 考评 of one period: draft → review → notice 公示 →
-- final. Final posts the party-track points.
CREATE TABLE IF NOT EXISTS duty_assessments (
  id {{ID}},
  village_id BIGINT NOT NULL,
  period_key VARCHAR(16) NOT NULL,
  starts_at DATETIME(6) NOT NULL,
  ends_at DATETIME(6) NOT NULL,
  status VARCHAR(16) NOT NULL,
  notice_until DATETIME(6) NULL,
  created_by BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_duty_assessments_period ON duty_assessments (village_id, period_key);

-- One member's assessment in a batch: the highest stage that scored (1
-- self, 2 group, 3 branch), its grade or criterion scores, the points and
-- the posting they became at final.
CREATE TABLE IF NOT EXISTS duty_assessment_items (
  id {{ID}},
  assessment_id BIGINT NOT NULL,
  village_id BIGINT NOT NULL,
  resident_id BIGINT NOT NULL,
  post_id BIGINT NOT NULL,
  stage INT NOT NULL DEFAULT 0,
  grade VARCHAR(16) NOT NULL DEFAULT '',
  scores VARCHAR(500) NOT NULL DEFAULT '[]',
  comment VARCHAR(500) NOT NULL DEFAULT '',
  points BIGINT NOT NULL DEFAULT 0,
  scored_by BIGINT NULL,
  posting_id BIGINT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX ux_duty_assessment_items_member ON duty_assessment_items (assessment_id, resident_id);
