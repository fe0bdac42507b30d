-- 001-initial: the verdict store.
-- Times are Unix seconds (UTC). Text columns are never NULL unless a NULL
-- carries a meaning (spam_score NULL = not checked; quar_path NULL = not kept).

CREATE TABLE msgs (
  id           INTEGER PRIMARY KEY,
  mail_id      TEXT    NOT NULL UNIQUE CHECK (length(mail_id) = 12),
  time         INTEGER NOT NULL,
  client_addr  TEXT    NOT NULL DEFAULT '',
  client_name  TEXT    NOT NULL DEFAULT '',
  client_helo  TEXT    NOT NULL DEFAULT '',
  sender       TEXT    NOT NULL,              -- envelope sender, '' for <>
  from_hdr     TEXT    NOT NULL DEFAULT '',
  subject      TEXT    NOT NULL DEFAULT '',
  message_id   TEXT    NOT NULL DEFAULT '',
  size         INTEGER NOT NULL,
  category     TEXT    NOT NULL CHECK (category IN
                 ('clean','spammy','oversized','badh','spam','unchecked','banned','virus')),
  virus_names  TEXT    NOT NULL DEFAULT '',   -- comma separated
  banned_names TEXT    NOT NULL DEFAULT '',   -- comma separated
  spam_score   REAL,
  spam_tests   TEXT    NOT NULL DEFAULT '',
  unchecked_reason TEXT NOT NULL DEFAULT '',
  quar_path    TEXT,                          -- relative to quarantine_dir
  quar_size    INTEGER,
  quar_sha256  TEXT,
  quar_state   TEXT    NOT NULL DEFAULT 'none' CHECK (quar_state IN
                 ('none','quarantined','released','purged')),
  scan_ms      INTEGER NOT NULL DEFAULT 0,
  policy       TEXT    NOT NULL DEFAULT '',
  engine       TEXT    NOT NULL DEFAULT ''    -- which engine decided: clamav, banned, spamd, ...
);
CREATE INDEX msgs_time          ON msgs(time);
CREATE INDEX msgs_category_time ON msgs(category, time);
CREATE INDEX msgs_sender        ON msgs(sender);
CREATE INDEX msgs_quar_state    ON msgs(quar_state, time);

CREATE TABLE msgrcpt (
  id            INTEGER PRIMARY KEY,
  msg           INTEGER NOT NULL REFERENCES msgs(id) ON DELETE CASCADE,
  rseq          INTEGER NOT NULL,
  addr          TEXT    NOT NULL,
  domain        TEXT    NOT NULL,
  destiny       TEXT    NOT NULL CHECK (destiny IN ('pass','discard','bounce','reject','tempfail')),
  smtp_answer   TEXT    NOT NULL DEFAULT '',
  released_at   INTEGER,
  release_answer TEXT   NOT NULL DEFAULT '',
  UNIQUE (msg, rseq)
);
CREATE INDEX msgrcpt_addr   ON msgrcpt(addr);
CREATE INDEX msgrcpt_domain ON msgrcpt(domain);

CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  time     INTEGER NOT NULL,
  mail_id  TEXT    NOT NULL,
  action   TEXT    NOT NULL,                  -- release, purge, expire, ...
  who      TEXT    NOT NULL,
  detail   TEXT    NOT NULL DEFAULT '',
  result   TEXT    NOT NULL                   -- ok, or the error
);
CREATE INDEX events_mail_id ON events(mail_id);
CREATE INDEX events_time    ON events(time);

CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY,
  created    INTEGER NOT NULL,
  mail_id    TEXT    NOT NULL DEFAULT '',
  kind       TEXT    NOT NULL,                -- virus-admin, banned-recipient, ...
  env_from   TEXT    NOT NULL,                -- '' for <>
  rcpt       TEXT    NOT NULL,
  body       BLOB    NOT NULL,                -- the whole rendered message, CRLF
  attempts   INTEGER NOT NULL DEFAULT 0,
  next_try   INTEGER NOT NULL,
  state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','sent','failed')),
  last_error TEXT    NOT NULL DEFAULT '',
  sent_at    INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_try);
