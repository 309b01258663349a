-- Core data model of BGC Replica (DESIGN §3). Forward-only; see docs/ARCHITECTURE.md.
-- Every foreign-key column has a B-tree index that leads with it (FR-003); every index
-- carries a comment naming the query it serves.

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

-- users ---------------------------------------------------------------------------
CREATE TABLE users (
  id             uuid PRIMARY KEY,
  email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  username       text NOT NULL CHECK (length(username) BETWEEN 2 AND 40),
  password_hash  text NOT NULL,
  is_active      boolean NOT NULL DEFAULT true,
  is_superuser   boolean NOT NULL DEFAULT false,
  last_login_at  timestamptz,
  metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
COMMENT ON INDEX users_email_lower_key IS 'serves: auth.find_user_by_email (case-insensitive unique email)';
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
COMMENT ON INDEX users_username_lower_key IS 'serves: auth.register uniqueness of usernames';
CREATE INDEX users_active_created_at_idx ON users (created_at) WHERE is_active;
COMMENT ON INDEX users_active_created_at_idx IS 'serves: admin/report queries over active users by sign-up date (FR-004 is_active + created_at)';
CREATE INDEX users_metadata_gin ON users USING gin (metadata jsonb_path_ops);
COMMENT ON INDEX users_metadata_gin IS 'serves: metadata containment filters on users (FR-005)';

-- sessions ------------------------------------------------------------------------
CREATE TABLE sessions (
  id            uuid PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash    bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  user_agent    text
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
COMMENT ON INDEX sessions_token_hash_key IS 'serves: session.by_token_hash (every authenticated request on a cache miss)';
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
COMMENT ON INDEX sessions_user_id_idx IS 'serves: FK sessions.user_id; revoking all sessions of a user';
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
COMMENT ON INDEX sessions_expires_at_idx IS 'serves: expired-session cleanup job';

-- profiles ------------------------------------------------------------------------
CREATE TABLE profiles (
  user_id         uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  display_name    text,
  bio             text CHECK (length(bio) <= 5000),
  birthdate       date,
  gender          text,
  ethnicity       text,
  height_cm       smallint CHECK (height_cm BETWEEN 50 AND 260),
  body_type       text,
  relationship_status text,
  city            text,
  state           text,
  lat             double precision CHECK (lat BETWEEN -90 AND 90),
  lng             double precision CHECK (lng BETWEEN -180 AND 180),
  roles           jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(roles) = 'array'),
  interests       jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(interests) = 'array'),
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  privacy_level   text NOT NULL DEFAULT 'public' CHECK (privacy_level IN ('public', 'friends', 'private')),
  last_active_at  timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  search_vector   tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, coalesce(display_name, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(bio, '')), 'B') ||
    setweight(to_tsvector('simple'::regconfig, coalesce(city, '') || ' ' || coalesce(state, '')), 'C')
  ) STORED
);
CREATE INDEX profiles_roles_gin ON profiles USING gin (roles jsonb_path_ops);
COMMENT ON INDEX profiles_roles_gin IS 'serves: search.profiles roles containment (FR-005)';
CREATE INDEX profiles_interests_gin ON profiles USING gin (interests jsonb_path_ops);
COMMENT ON INDEX profiles_interests_gin IS 'serves: search.profiles interests containment (FR-005)';
CREATE INDEX profiles_metadata_gin ON profiles USING gin (metadata jsonb_path_ops);
COMMENT ON INDEX profiles_metadata_gin IS 'serves: search.profiles metadata attribute containment (FR-005, SC-005)';
CREATE INDEX profiles_search_vector_gin ON profiles USING gin (search_vector);
COMMENT ON INDEX profiles_search_vector_gin IS 'serves: search.profiles free text (q)';
CREATE INDEX profiles_location_gist ON profiles USING gist (ll_to_earth(lat, lng)) WHERE lat IS NOT NULL AND lng IS NOT NULL;
COMMENT ON INDEX profiles_location_gist IS 'serves: search.profiles lat/lng/radius_km';
CREATE INDEX profiles_state_city_idx ON profiles (state, city);
COMMENT ON INDEX profiles_state_city_idx IS 'serves: search.profiles city/state filters';
CREATE INDEX profiles_birthdate_idx ON profiles (birthdate);
COMMENT ON INDEX profiles_birthdate_idx IS 'serves: search.profiles min_age/max_age';
CREATE INDEX profiles_last_active_idx ON profiles (last_active_at DESC);
COMMENT ON INDEX profiles_last_active_idx IS 'serves: cache.warm_profiles (most recently active users) and search ordering';

-- relationships -------------------------------------------------------------------
CREATE TABLE relationships (
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  target_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('friend', 'favorite', 'block')),
  status      text NOT NULL DEFAULT 'accepted' CHECK (status IN ('pending', 'accepted')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, target_id, kind),
  CHECK (user_id <> target_id)
);
COMMENT ON INDEX relationships_pkey IS 'serves: FK relationships.user_id; social.relationships list; following feed friend lookup';
CREATE INDEX relationships_target_id_idx ON relationships (target_id, kind, status);
COMMENT ON INDEX relationships_target_id_idx IS 'serves: FK relationships.target_id; incoming friend requests and block checks';

CREATE TABLE profile_ratings (
  rater_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  rated_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  score       smallint NOT NULL CHECK (score BETWEEN 1 AND 10),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rater_id, rated_id),
  CHECK (rater_id <> rated_id)
);
COMMENT ON INDEX profile_ratings_pkey IS 'serves: FK profile_ratings.rater_id; one rating per pair';
CREATE INDEX profile_ratings_rated_id_idx ON profile_ratings (rated_id) INCLUDE (score);
COMMENT ON INDEX profile_ratings_rated_id_idx IS 'serves: FK profile_ratings.rated_id; profile.get rating average (index-only)';

-- chat rooms and direct conversations --------------------------------------------
CREATE TABLE chat_rooms (
  id          uuid PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  topic       text,
  created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  is_active   boolean NOT NULL DEFAULT true,
  metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_rooms_created_by_idx ON chat_rooms (created_by);
COMMENT ON INDEX chat_rooms_created_by_idx IS 'serves: FK chat_rooms.created_by';
CREATE INDEX chat_rooms_active_name_idx ON chat_rooms (name, id) WHERE is_active;
COMMENT ON INDEX chat_rooms_active_name_idx IS 'serves: chat.list_rooms (active rooms, keyset by name)';

CREATE TABLE conversations (
  id                   uuid PRIMARY KEY,
  user_low             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_high            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at           timestamptz NOT NULL DEFAULT now(),
  last_message_id      uuid,
  last_message_at      timestamptz,
  CHECK (user_low < user_high)
);
CREATE UNIQUE INDEX conversations_pair_key ON conversations (user_low, user_high);
COMMENT ON INDEX conversations_pair_key IS 'serves: FK conversations.user_low; chat.open_conversation (one conversation per pair)';
CREATE INDEX conversations_user_high_idx ON conversations (user_high);
COMMENT ON INDEX conversations_user_high_idx IS 'serves: FK conversations.user_high';

CREATE TABLE conversation_members (
  conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  joined_at         timestamptz NOT NULL DEFAULT now(),
  last_read_at      timestamptz NOT NULL DEFAULT '-infinity',
  unread_count      integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  last_message_at   timestamptz,
  PRIMARY KEY (conversation_id, user_id)
);
COMMENT ON INDEX conversation_members_pkey IS 'serves: FK conversation_members.conversation_id; membership checks';
CREATE INDEX conversation_members_inbox_idx ON conversation_members (user_id, last_message_at DESC NULLS LAST, conversation_id);
COMMENT ON INDEX conversation_members_inbox_idx IS 'serves: FK conversation_members.user_id; chat.inbox ordered by latest message (keyset)';
CREATE INDEX conversation_members_unread_idx ON conversation_members (user_id) WHERE unread_count > 0;
COMMENT ON INDEX conversation_members_unread_idx IS 'serves: unread counting (total unread badge)';

-- messages: partitioned by month (FR-013) -----------------------------------------
CREATE TABLE messages (
  id               uuid NOT NULL,
  conversation_id  uuid REFERENCES conversations (id) ON DELETE CASCADE,
  room_id          uuid REFERENCES chat_rooms (id) ON DELETE CASCADE,
  sender_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  content          text NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
  metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL,
  edited_at        timestamptz,
  PRIMARY KEY (id, created_at),
  CHECK ((conversation_id IS NULL) <> (room_id IS NULL))
) PARTITION BY RANGE (created_at);
CREATE INDEX messages_conversation_history_idx ON messages (conversation_id, created_at DESC, id DESC);
COMMENT ON INDEX messages_conversation_history_idx IS 'serves: FK messages.conversation_id; chat.conversation_history keyset pages; inbox last message';
CREATE INDEX messages_room_history_idx ON messages (room_id, created_at DESC, id DESC);
COMMENT ON INDEX messages_room_history_idx IS 'serves: FK messages.room_id; chat.room_history keyset pages';
CREATE INDEX messages_sender_created_idx ON messages (sender_id, created_at DESC);
COMMENT ON INDEX messages_sender_created_idx IS 'serves: FK messages.sender_id; report.most_active_users over a period';
CREATE INDEX messages_created_at_brin ON messages USING brin (created_at) WITH (pages_per_range = 32);
COMMENT ON INDEX messages_created_at_brin IS 'serves: time-range scans of messages (FR-006), archive export bounds';

-- status updates (the feed): partitioned by month --------------------------------
CREATE TABLE status_updates (
  id             uuid NOT NULL,
  author_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  content        text NOT NULL CHECK (length(content) BETWEEN 1 AND 5000),
  metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
  comment_count  integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX status_updates_author_created_idx ON status_updates (author_id, created_at DESC, id DESC);
COMMENT ON INDEX status_updates_author_created_idx IS 'serves: FK status_updates.author_id; feed.following (per-author timeline)';
CREATE INDEX status_updates_created_idx ON status_updates (created_at DESC, id DESC);
COMMENT ON INDEX status_updates_created_idx IS 'serves: feed.global keyset pages; report.top_posts';
CREATE INDEX status_updates_created_at_brin ON status_updates USING brin (created_at) WITH (pages_per_range = 32);
COMMENT ON INDEX status_updates_created_at_brin IS 'serves: time-range scans of status updates (FR-006)';

-- Comments reference a post by (post_id, post_created_at) without a declared foreign key:
-- a declared FK into status_updates would block DETACH of old partitions (retention).
-- The comment row carries the post's created_at so lookups still prune partitions.
CREATE TABLE post_comments (
  id               uuid PRIMARY KEY,
  post_id          uuid NOT NULL,
  post_created_at  timestamptz NOT NULL,
  author_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  content          text NOT NULL CHECK (length(content) BETWEEN 1 AND 2000),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_comments_post_idx ON post_comments (post_id, created_at, id);
COMMENT ON INDEX post_comments_post_idx IS 'serves: feed.list_comments keyset pages; comment counts';
CREATE INDEX post_comments_author_id_idx ON post_comments (author_id);
COMMENT ON INDEX post_comments_author_id_idx IS 'serves: FK post_comments.author_id';

-- groups ---------------------------------------------------------------------------
CREATE TABLE community_groups (
  id           uuid PRIMARY KEY,
  name         text NOT NULL,
  description  text,
  owner_id     uuid REFERENCES users (id) ON DELETE SET NULL,
  is_active    boolean NOT NULL DEFAULT true,
  metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX community_groups_owner_id_idx ON community_groups (owner_id);
COMMENT ON INDEX community_groups_owner_id_idx IS 'serves: FK community_groups.owner_id';
CREATE INDEX community_groups_metadata_gin ON community_groups USING gin (metadata jsonb_path_ops);
COMMENT ON INDEX community_groups_metadata_gin IS 'serves: group metadata containment search (FR-005)';

CREATE TABLE group_memberships (
  group_id   uuid NOT NULL REFERENCES community_groups (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator', 'owner')),
  joined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id)
);
COMMENT ON INDEX group_memberships_pkey IS 'serves: FK group_memberships.group_id; group member lists';
CREATE INDEX group_memberships_user_id_idx ON group_memberships (user_id);
COMMENT ON INDEX group_memberships_user_id_idx IS 'serves: FK group_memberships.user_id; groups of a user';
