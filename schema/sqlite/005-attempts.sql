-- 005-attempts: a verdict row is one delivery attempt of a message, and its
-- alerts wait for that attempt's answer.
--
-- msgs.attempt says what became of the attempt:
--   open      committed, the answer to the client not known yet (or never
--             recorded: scand stopped first; see README "scand: how it
--             answers" for what start-up does with those)
--   final     answered 2xx or 5xx: this row's quarantine copy and alerts
--             are the message's
--   deferred  answered 4xx: the client retries as a new attempt (a new
--             row); this row's quarantine copy was withdrawn (quar_state
--             'purged') and its alerts cancelled; never released
-- Rows written before this migration were final, except those whose every
-- recipient was answered 4xx ('tempfail'): those were deferred attempts.
ALTER TABLE msgs ADD COLUMN attempt TEXT NOT NULL DEFAULT 'final'
  CHECK (attempt IN ('open', 'final', 'deferred'));
UPDATE msgs SET attempt = 'deferred'
  WHERE EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = msgs.id)
    AND NOT EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = msgs.id AND r.destiny != 'tempfail');

-- outbox.state gains two values:
--   held       queued with an open attempt: not sent until the attempt is
--              settled (then 'pending', or 'cancelled' when deferred)
--   cancelled  its attempt was deferred; the retry queues its own alerts
-- SQLite cannot change a CHECK in place: the table is rebuilt (no foreign
-- key points at it).
CREATE TABLE outbox_new (
  id         INTEGER PRIMARY KEY,
  created    INTEGER NOT NULL,
  mail_id    TEXT    NOT NULL DEFAULT '',
  kind       TEXT    NOT NULL,                -- virus-admin, banned-recipient, failure-notice, ...
  env_from   TEXT    NOT NULL,                -- '' for <>
  rcpt       TEXT    NOT NULL,
  body       BLOB    NOT NULL,                -- the whole rendered message, CRLF
  attempts   INTEGER NOT NULL DEFAULT 0,
  next_try   INTEGER NOT NULL,
  state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
               ('held','pending','sent','failed','cancelled')),
  last_error TEXT    NOT NULL DEFAULT '',
  sent_at    INTEGER
);
INSERT INTO outbox_new (id, created, mail_id, kind, env_from, rcpt, body, attempts, next_try, state,
                        last_error, sent_at)
  SELECT id, created, mail_id, kind, env_from, rcpt, body, attempts, next_try, state, last_error, sent_at
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, next_try);
-- settling an attempt finds its held alerts by mail id; only held rows are
-- in this index, so it stays a handful of entries
CREATE INDEX outbox_held ON outbox(mail_id) WHERE state = 'held';
