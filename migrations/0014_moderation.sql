-- Reports and moderation (issue 20). Forward-only; every FK column has a B-tree index
-- leading with it (FR-003).
--
-- Users report a profile, message, post or comment. Reports of one target are gathered in
-- one moderation case, which carries the count and the first report's time, so the
-- moderators' queue ("most reported first, then oldest") is one ordered index scan
-- instead of an aggregate over every open report. A report and its case are written by one
-- statement: the report row first (one per reporter and target, ON CONFLICT DO NOTHING),
-- then, only if it was new, the case upsert that adds one to report_count. Concurrent
-- reports of one target serialise on the case row (ON CONFLICT DO UPDATE locks it and
-- updates its latest version), so the count stays exact.

CREATE TABLE moderation_cases (
  id                 uuid PRIMARY KEY,
  target_kind        text NOT NULL CHECK (target_kind IN ('profile', 'message', 'post', 'comment')),
  target_id          uuid NOT NULL,
  -- When the target lives in a monthly partition (message, post): its created_at, so
  -- hiding it touches one partition. NULL for profiles and comments.
  target_created_at  timestamptz,
  -- The user the case is about: the profile's owner or the content's author.
  target_user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- What was reported, as the first report saw it (280 characters): the queue shows it
  -- without joining four tables (two of them partitioned), and it stays as evidence.
  target_preview     text,
  report_count       integer NOT NULL DEFAULT 0 CHECK (report_count >= 0),
  first_reported_at  timestamptz NOT NULL DEFAULT now(),
  last_reported_at   timestamptz NOT NULL DEFAULT now(),
  status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'hidden', 'suspended')),
  resolved_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  resolved_at        timestamptz,
  CHECK ((status = 'open') = (resolved_at IS NULL)),
  CONSTRAINT moderation_cases_target_key UNIQUE (target_kind, target_id)
);
COMMENT ON INDEX moderation_cases_target_key IS 'serves: moderation.report (one case per target, upserted); FK content_reports (target_kind, target_id)';
CREATE INDEX moderation_cases_queue_idx ON moderation_cases (report_count DESC, first_reported_at, id) WHERE status = 'open';
COMMENT ON INDEX moderation_cases_queue_idx IS 'serves: moderation.queue (open cases, most reported then oldest, keyset)';
CREATE INDEX moderation_cases_target_user_id_idx ON moderation_cases (target_user_id);
COMMENT ON INDEX moderation_cases_target_user_id_idx IS 'serves: FK moderation_cases.target_user_id';
CREATE INDEX moderation_cases_resolved_by_idx ON moderation_cases (resolved_by);
COMMENT ON INDEX moderation_cases_resolved_by_idx IS 'serves: FK moderation_cases.resolved_by';

-- One report per reporter and target; reporting again changes nothing. The report is
-- inserted before its case in the same statement: the foreign key is checked at the end
-- of the statement, when the case exists.
CREATE TABLE content_reports (
  target_kind  text NOT NULL,
  target_id    uuid NOT NULL,
  reporter_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  reason       text NOT NULL CHECK (reason IN ('spam', 'harassment', 'hate', 'sexual', 'violence', 'scam', 'other')),
  details      text CHECK (length(details) <= 1000),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target_kind, target_id, reporter_id),
  FOREIGN KEY (target_kind, target_id) REFERENCES moderation_cases (target_kind, target_id) ON DELETE CASCADE
);
COMMENT ON INDEX content_reports_pkey IS 'serves: FK content_reports (target_kind, target_id); moderation.case_reports; one report per reporter and target';
CREATE INDEX content_reports_reporter_id_idx ON content_reports (reporter_id);
COMMENT ON INDEX content_reports_reporter_id_idx IS 'serves: FK content_reports.reporter_id';

-- Every moderator action, with who and when; never updated.
CREATE TABLE moderation_actions (
  id            uuid PRIMARY KEY,
  case_id       uuid NOT NULL REFERENCES moderation_cases (id) ON DELETE CASCADE,
  moderator_id  uuid REFERENCES users (id) ON DELETE SET NULL,
  action        text NOT NULL CHECK (action IN ('dismiss', 'hide', 'suspend')),
  note          text CHECK (length(note) <= 1000),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_actions_case_id_idx ON moderation_actions (case_id, created_at);
COMMENT ON INDEX moderation_actions_case_id_idx IS 'serves: FK moderation_actions.case_id; moderation.case_actions';
CREATE INDEX moderation_actions_moderator_id_idx ON moderation_actions (moderator_id);
COMMENT ON INDEX moderation_actions_moderator_id_idx IS 'serves: FK moderation_actions.moderator_id';

-- Hidden content: set by a moderator's "hide", never cleared by the app. Every read that
-- shows content to users filters `hidden_at IS NULL` (feeds, comments, histories, inbox
-- last message, search, profiles). Nullable columns without a default: adding them
-- rewrites nothing, even on the partitioned tables.
ALTER TABLE messages ADD COLUMN hidden_at timestamptz;
ALTER TABLE status_updates ADD COLUMN hidden_at timestamptz;
ALTER TABLE post_comments ADD COLUMN hidden_at timestamptz;
ALTER TABLE profiles ADD COLUMN hidden_at timestamptz;

-- New columns have no statistics until an ANALYZE, and autovacuum runs none for ADD
-- COLUMN; without them the planner takes `hidden_at IS NULL` to match 0.5% of rows and
-- misjudges every feed and history plan (see 0013). Only these columns, every partition.
ANALYZE messages (hidden_at);
ANALYZE status_updates (hidden_at);
ANALYZE post_comments (hidden_at);
ANALYZE profiles (hidden_at);
ANALYZE moderation_cases;
ANALYZE content_reports;
ANALYZE moderation_actions;
