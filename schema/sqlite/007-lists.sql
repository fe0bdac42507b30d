-- 007-lists: allow and block lists per recipient, per domain and global
-- (common/lists.h; quarctl lists; README "Allow and block lists").
--
-- scope    'global', a domain ('example.net'), its subdomains
--          ('.example.net') or a recipient address; lower case
-- kind     'allow' or 'block'
-- pattern  the sender: an address, '*@domain', '*@.domain' (subdomains)
--          or a glob; lower case
-- pkey     what scand probes for the pattern: the address, '@domain',
--          '@.domain', or '' for a glob (then matched in C): the lookup
--          of one recipient is a handful of (scope, pkey) index probes
-- expires  unix time after which the entry no longer applies; 0 = never
-- One entry per (scope, pattern): adding it again replaces its kind, note
-- and expiry.
CREATE TABLE lists (
  id         INTEGER PRIMARY KEY,
  scope      TEXT    NOT NULL,
  kind       TEXT    NOT NULL CHECK (kind IN ('allow', 'block')),
  pattern    TEXT    NOT NULL,
  pkey       TEXT    NOT NULL,
  note       TEXT    NOT NULL DEFAULT '',
  created_by TEXT    NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (scope, pattern)
);
CREATE INDEX lists_probe ON lists (scope, pkey);
-- The entry that decided a recipient's spam verdict ("block #12 for
-- example.net: *@spam.example"), '' when none did.
ALTER TABLE msgrcpt ADD COLUMN list_entry TEXT NOT NULL DEFAULT '';
