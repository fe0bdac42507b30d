-- 006-dsn: the DSN parameters of the original transaction (RFC 3461), kept
-- with the verdict so that a release from the quarantine passes them on as
-- scand's own reinjection does: RET and ENVID of the MAIL command, NOTIFY
-- and ORCPT of each RCPT, as received (xtext); '' when the client gave none.
-- Rows written before this migration have none.
ALTER TABLE msgs ADD COLUMN dsn_ret TEXT NOT NULL DEFAULT '';
ALTER TABLE msgs ADD COLUMN dsn_envid TEXT NOT NULL DEFAULT '';
ALTER TABLE msgrcpt ADD COLUMN dsn_notify TEXT NOT NULL DEFAULT '';
ALTER TABLE msgrcpt ADD COLUMN dsn_orcpt TEXT NOT NULL DEFAULT '';
