-- 010-fillfactor (PostgreSQL): room on each msgs page for its rows' next
-- version. Every verdict row is updated once after its insert (the
-- attempt settled by the downstream's answer); with full pages a third of
-- those updates found no room on the row's own page, so PostgreSQL wrote
-- the new version elsewhere and a new entry into each of msgs' indexes.
-- At 85 % the update stays on its page (a HOT update: no index entry) for
-- nearly all of them: about a tenth less WAL per message, and indexes that
-- do not grow by the updates (notes/issue-19/fleet-bench.txt). Pages
-- written before this migration keep their fill; new pages get it.
ALTER TABLE msgs SET (fillfactor = 85);
