-- 003-report: what scand-report needs.
-- A covering index for the weekly totals, the per-day table and the RRD
-- minute counts: the range scan on time never has to visit the table rows.
CREATE INDEX msgs_report ON msgs(time, category, size, scan_ms);
-- Destinies per message (weekly destinies, rrd passed/blocked) from the
-- index alone.
CREATE INDEX msgrcpt_report ON msgrcpt(msg, destiny);

-- How far scand-report rrd-update got, per RRD file.
-- Invariant: every message with time < last_minute and id <= last_msg_id
-- has been counted in the RRD (or was older than the RRD when it was
-- rebuilt); no message with time >= last_minute has been counted.
CREATE TABLE report_rrd (
  path        TEXT    PRIMARY KEY,
  last_minute INTEGER NOT NULL,   -- Unix time, multiple of 60
  last_msg_id INTEGER NOT NULL    -- msgs.id watermark
);
