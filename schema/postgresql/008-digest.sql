-- 008-digest (PostgreSQL): the recipients' digest (scand-notify digest, scand-web).
--
-- digest_pref: how often a recipient gets a digest, set by quarctl digest
-- set: target is a lower-case address or a domain; the address wins over
-- its domain, the domain over [digest] frequency.
CREATE TABLE digest_pref (
  target    TEXT PRIMARY KEY,
  frequency TEXT NOT NULL CHECK (frequency IN ('never', 'daily', 'weekly'))
);

-- digest_sent: one row per digest queued, written in the transaction that
-- puts the digest in the outbox, so that a recipient gets one digest per
-- period (period 'daily:2026-12-02', 'weekly:2026-W49', or 'now:<time>'
-- for a digest asked for by hand) however often the command runs and
-- wherever it stops. The newest time is the recipient's last digest.
CREATE TABLE digest_sent (
  rcpt      TEXT    NOT NULL,
  period    TEXT    NOT NULL,
  time      BIGINT  NOT NULL,
  outbox_id BIGINT  NOT NULL,
  items     BIGINT  NOT NULL,
  PRIMARY KEY (rcpt, period)
);
CREATE INDEX digest_sent_time ON digest_sent(rcpt, time);

-- msgrcpt.deleted_at: the recipient said "delete for me" in a digest; the
-- message stays for the other recipients and the operator.
ALTER TABLE msgrcpt ADD COLUMN deleted_at BIGINT;
