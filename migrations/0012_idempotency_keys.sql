-- Idempotency keys (issue 16; docs/RELIABILITY.md "Idempotent writes").
--
-- A creating POST may carry an `Idempotency-Key` header. Its row is inserted in the SAME
-- transaction as the write it protects, together with the response body the client got, so:
--   * a retry after a 503 or a lost connection finds the row if and only if the first
--     attempt committed, and gets the stored response instead of a second write;
--   * a concurrent duplicate blocks on this primary key until the first commits, then sees
--     the conflict, rolls its own write back and replays the first response.
--
-- scope: the acting user's id; the nil UUID for anonymous requests (register). No FK to
--   users: a key outlives nothing (24 h), and an FK check would cost every keyed write a
--   lookup and take a KEY SHARE lock on the user row.
-- fingerprint: sha256 of method, route, path parameters and canonical JSON body (for
--   register the password is left out, so this table holds nothing that helps guess it).
-- response: the body of the first response (never a session token).
-- created_at: a key is live for 24 h (src/services/idempotency.ts, KEY_TTL_HOURS); an older
--   row is ignored by lookups, may be overwritten by a new use of its key, and is deleted in
--   batches by the leader job `idempotency.expire` through idempotency_keys_created_at_idx.
CREATE TABLE idempotency_keys (
  scope       uuid        NOT NULL,
  key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint bytea       NOT NULL CHECK (length(fingerprint) = 32),
  response    jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- Insert-and-delete churn: vacuum and analyze it far more often than the 5%/2% defaults of
-- this stack, so the expiry's dead tuples are reclaimed before the next day's keys arrive.
ALTER TABLE idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01);

COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key records of creating POSTs (written in the same transaction as the write; expired after 24 h by the idempotency.expire job)';
COMMENT ON INDEX idempotency_keys_created_at_idx IS 'serves: idempotency.expire (oldest keys first)';
