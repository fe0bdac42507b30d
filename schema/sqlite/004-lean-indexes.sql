-- 004-lean-indexes: one b-tree less to write per verdict.
-- msgs_report (time, category, size, scan_ms) starts with time, so every
-- query msgs_time served (time ranges, newest first) uses msgs_report;
-- msgs_time only cost a page write per message.
DROP INDEX IF EXISTS msgs_time;
