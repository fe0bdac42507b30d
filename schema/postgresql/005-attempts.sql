-- 005-attempts (PostgreSQL): a verdict row is one delivery attempt of a
-- message, and its alerts wait for that attempt's answer.
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
-- PostgreSQL changes the CHECK in place (SQLite rebuilds the table).
ALTER TABLE outbox DROP CONSTRAINT outbox_state;
ALTER TABLE outbox ADD CONSTRAINT outbox_state CHECK (state IN
  ('held','pending','sent','failed','cancelled'));
-- settling an attempt finds its held alerts by mail id; only held rows are
-- in this index, so it stays a handful of entries
CREATE INDEX outbox_held ON outbox(mail_id) WHERE state = 'held';
