-- 009-host: every row carries the host that wrote it, and a quarantine copy
-- may live in the store instead of the quarantine tree (fleet preparation).
--
-- host: [scand] hostname (empty there means gethostname()) of the program
-- that wrote the row: scand for msgs and outbox, scand, quarctl or
-- scand-notify for events. '' for rows written before this migration.
ALTER TABLE msgs ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN host TEXT NOT NULL DEFAULT '';

-- quar_backend: where the quarantine copy of a row is kept ([scand]
-- quarantine_backend when it was written): 'files' under quarantine_dir at
-- quar_path, or 'database' in quar_blobs (gzip, quar_size its length).
-- quar_path keeps its relative name either way (category, date, mail id).
-- quar_sha256 is of the message as received (before compression) for rows
-- written from this migration on, whichever the backend; rows written before
-- it that kept a .gz file have the SHA-256 of the file (common/quar.c
-- accepts both for a file).
ALTER TABLE msgs ADD COLUMN quar_backend TEXT NOT NULL DEFAULT 'files'
  CHECK (quar_backend IN ('files', 'database'));

-- The bytes live in their own table so that scans of msgs (lists, reports)
-- never page through them; a purge deletes the row.
CREATE TABLE quar_blobs (
  msg   INTEGER PRIMARY KEY REFERENCES msgs(id) ON DELETE CASCADE,
  data  BLOB    NOT NULL
);
