/*
 * store_report_sql - scand-report's SQL that the backends share: plain
 * SQL that SQLite and PostgreSQL both run, written once with the
 * placeholders as arguments (SQLite "?1", PostgreSQL "$1").
 * The totals (store.h store_report_stat): every statement's first column
 * is a name ('' where there is none), the others integers (struct
 * store_stat_row); P1 = since, P2 = until. The RRD's minutes
 * (store_rrd_minutes): P1..P4 = t0, t1, id0, id1. Only store_*.c include
 * this.
 */
#ifndef GH_STORE_REPORT_SQL_H
#define GH_STORE_REPORT_SQL_H

#define STORE_STAT_PERIOD(P1, P2) "time >= " P1 " AND time < " P2

#define STORE_STAT_CATEGORIES_SQL(P1, P2)                                                                    \
	"SELECT category, count(*), coalesce(sum(size), 0) FROM msgs WHERE " STORE_STAT_PERIOD(P1, P2)       \
	" GROUP BY category"
#define STORE_STAT_DESTINIES_SQL(P1, P2)                                                                     \
	"SELECT r.destiny, count(*) FROM msgs m JOIN msgrcpt r ON r.msg = m.id WHERE m." STORE_STAT_PERIOD(  \
	    P1, P2) " GROUP BY r.destiny"
/* Quarantine counts and the spam score histogram: the columns are not in
 * an index, so one pass over the period's rows answers both. */
#define STORE_STAT_HIST(lo, hi)                                                                              \
	", coalesce(sum(CASE WHEN spam_score >= " lo " AND spam_score < " hi " THEN 1 ELSE 0 END), 0)"
#define STORE_STAT_ROWS_SQL(P1, P2)                                                                          \
	"SELECT '', count(quar_path), "                                                                      \
	"coalesce(sum(CASE WHEN quar_state = 'released' THEN 1 ELSE 0 END), 0), "                           \
	"coalesce(sum(CASE WHEN quar_state = 'purged' THEN 1 ELSE 0 END), 0), "                             \
	"coalesce(sum(CASE WHEN spam_score < 0 THEN 1 ELSE 0 END), 0)" STORE_STAT_HIST("0", "2")             \
	    STORE_STAT_HIST("2", "4") STORE_STAT_HIST("4", "6") STORE_STAT_HIST("6", "8")                    \
	        STORE_STAT_HIST("8", "10") STORE_STAT_HIST("10", "15") STORE_STAT_HIST("15", "20")           \
	", coalesce(sum(CASE WHEN spam_score >= 20 THEN 1 ELSE 0 END), 0) FROM msgs WHERE " STORE_STAT_PERIOD( \
	    P1, P2)
#define STORE_STAT_DAYS_SQL(P1, P2)                                                                          \
	"SELECT category, time / 86400, count(*), coalesce(sum(size), 0) FROM msgs WHERE " STORE_STAT_PERIOD( \
	    P1, P2) " GROUP BY 2, 1"
#define STORE_STAT_BUSIEST_HOUR_SQL(P1, P2)                                                                  \
	"SELECT '', time / 3600 AS h, count(*) AS n FROM msgs WHERE " STORE_STAT_PERIOD(P1, P2)             \
	" GROUP BY h ORDER BY n DESC, h LIMIT 1"
/* Scan times grouped by value (from the covering index): the mean and the
 * nearest-rank p95 follow from the running count without sorting rows. */
#define STORE_STAT_SCAN_SQL(P1, P2)                                                                          \
	"SELECT '', scan_ms, count(*) FROM msgs WHERE " STORE_STAT_PERIOD(P1, P2)                            \
	" GROUP BY scan_ms ORDER BY scan_ms"

/* per message: passed (a recipient passed), blocked (none passed, one
 * discarded, bounced or rejected); grouped by minute, category and host */
#define STORE_RRD_MINUTES_SQL(P1, P2, P3, P4)                                                                \
	"SELECT m.time / 60 * 60 AS minute, m.category, count(*), "                                          \
	"sum(CASE WHEN EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND r.destiny = 'pass') THEN 1 "   \
	"ELSE 0 END), "                                                                                      \
	"sum(CASE WHEN NOT EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND r.destiny = 'pass') AND "  \
	"EXISTS (SELECT 1 FROM msgrcpt r WHERE r.msg = m.id AND r.destiny IN ('discard', 'bounce', 'reject')) " \
	"THEN 1 ELSE 0 END), m.host "                                                                        \
	"FROM msgs m WHERE m.time >= " P1 " AND m.time < " P2 " AND m.id > " P3 " AND m.id <= " P4           \
	" GROUP BY 1, 2, 6"

#endif
