/*
 * conftab - every configuration key of every Gatehouse program
 *
 * One row per key: section, name, type, default, one-line doc, limits.
 * conf.c validates files against this table and prints the example file
 * from it; a key added here is documented in contrib/scand.conf.example
 * by regenerating it (scand --dump-config > contrib/scand.conf.example,
 * which a unit test checks).
 */
#include "conf.h"

#include <stddef.h>

#define NOLIM 0, 0, NULL

const struct conf_key conf_table[] = {
	/* [scand] the daemon */
	{"scand", "listen", CONF_STR, "127.0.0.1:10024",
	 "where to accept mail: comma-separated host:port or unix:/path", NOLIM},
	{"scand", "forward", CONF_STR, "127.0.0.1:10025",
	 "where passed mail is reinjected (an smtpd with content_filter empty); lmtp:host:port for LMTP", NOLIM},
	{"scand", "before_queue", CONF_BOOL, "no",
	 "before-queue mode (smtpd_proxy_filter): a REJECT destiny answers 554 in-line", NOLIM},
	{"scand", "max_servers", CONF_INT, "0",
	 "concurrent sessions; 0 means 2 per CPU core (match master.cf maxproc)", 0, 4096, NULL},
	{"scand", "message_size_limit", CONF_SIZE, "50M",
	 "largest message accepted (552 5.3.4 above)", 1024, 4294967296.0, NULL},
	{"scand", "spool_memory_limit", CONF_SIZE, "1M",
	 "messages up to this size stay in memory; larger ones go to work_dir", 0, 1073741824.0, NULL},
	{"scand", "work_dir", CONF_STR, "/var/lib/gatehouse/work",
	 "spool directory for large messages (tmpfs recommended)", NOLIM},
	{"scand", "pid_file", CONF_STR, "/run/gatehouse/scand.pid", "pid file; empty for none", NOLIM},
	{"scand", "user", CONF_STR, "gatehouse", "user to run as after start-up (when started as root)", NOLIM},
	{"scand", "group", CONF_STR, "gatehouse", "group to run as after start-up", NOLIM},
	{"scand", "allow_root", CONF_BOOL, "no", "allow running as root after start-up (not recommended)", NOLIM},
	{"scand", "chroot", CONF_STR, "", "chroot directory; empty for none", NOLIM},
	{"scand", "hostname", CONF_STR, "", "name used in greetings and headers, and written as the host of every store row; empty means "
	 "gethostname()", NOLIM},
	{"scand", "log_level", CONF_ENUM, "info", "verbosity", 0, 0, "error|warn|info|debug"},
	{"scand", "syslog_facility", CONF_ENUM, "mail", "syslog facility", 0, 0,
	 "mail|daemon|local0|local1|local2|local3|local4|local5|local6|local7"},
	{"scand", "command_timeout", CONF_TIME, "5m", "idle time allowed between commands", 1, 86400, NULL},
	{"scand", "data_timeout", CONF_TIME, "10m", "time allowed between DATA lines", 1, 86400, NULL},
	{"scand", "max_errors", CONF_INT, "10", "protocol errors before 421 and disconnect", 1, 1000, NULL},
	{"scand", "max_recipients", CONF_INT, "1000", "recipients per message (452 4.5.3 above)", 1, 100000, NULL},
	{"scand", "forward_timeout", CONF_TIME, "5m", "time allowed for each step of the reinjection", 1, 86400, NULL},
	{"scand", "forward_idle_limit", CONF_TIME, "10s",
	 "a kept reinjection connection unused this long is closed and a new one opened (stay below the downstream's timeout)",
	 1, 3600, NULL},
	{"scand", "forward_max_age", CONF_TIME, "5m", "a reinjection connection this old is not reused", 1, 86400, NULL},
	{"scand", "forward_reuse_limit", CONF_INT, "100", "messages sent over one reinjection connection at most", 1,
	 1000000, NULL},
	{"scand", "database", CONF_STR, "/var/lib/gatehouse/gatehouse.db",
	 "the verdict store: a SQLite file, or postgresql://USER@HOST:PORT/DB for a fleet sharing one PostgreSQL store",
	 NOLIM},
	{"scand", "busy_timeout", CONF_TIME, "10s", "how long to wait for a locked database", 0, 3600, NULL},
	{"scand", "quarantine_dir", CONF_STR, "/var/lib/gatehouse/quarantine", "root of the quarantine tree", NOLIM},
	{"scand", "quarantine_compress", CONF_BOOL, "no", "gzip quarantined messages (.gz)", NOLIM},
	{"scand", "quarantine_backend", CONF_ENUM, "files",
	 "where quarantined messages are kept: files (under quarantine_dir) or database (gzip, in the store, "
	 "written with the verdict)", 0, 0, "files|database"},
	{"scand", "metrics_listen", CONF_STR, "",
	 "host:port where GET /metrics serves Prometheus metrics (text format 0.0.4), e.g. 127.0.0.1:9710; empty: off",
	 NOLIM},

	/* [clamav] the virus engine */
	{"clamav", "enabled", CONF_BOOL, "yes", "scan with libclamav", NOLIM},
	{"clamav", "database_dirs", CONF_STR, "/var/lib/clamav:/usr/local/share/gatehouse/signatures",
	 "colon-separated signature directories (missing or empty ones are skipped)", NOLIM},
	{"clamav", "max_scan_size", CONF_SIZE, "100M", "bytes scanned per message at most", 0, 4294967295.0, NULL},
	{"clamav", "max_file_size", CONF_SIZE, "25M", "largest embedded file scanned", 0, 4294967295.0, NULL},
	{"clamav", "max_recursion", CONF_INT, "14", "archive and MIME nesting depth", 1, 1000, NULL},
	{"clamav", "max_files", CONF_INT, "1500", "files inside archives per message", 1, 1000000, NULL},
	{"clamav", "reload_check_interval", CONF_TIME, "60s", "how often to look for changed signature files; 0 = never", 0, 86400, NULL},
	{"clamav", "temp_dir", CONF_STR, "",
	 "where libclamav unpacks mail and archives (tmpfs recommended); empty means [scand] work_dir if it exists, else $TMPDIR",
	 NOLIM},
	{"clamav", "low_memory_reload", CONF_BOOL, "no",
	 "free the old engine before loading the new one (scans wait during a reload)", NOLIM},
	{"clamav", "decode_parts", CONF_BOOL, "yes",
	 "decode the MIME parts in scand and give libclamav each part from memory plus the raw message, as amavisd-new does; no = libclamav's own mail parser gets the whole message (slower; needed for its phishing URL checks)",
	 NOLIM},

	/* [banned] banned attachments */
	{"banned", "enabled", CONF_BOOL, "yes", "check attachment names and types", NOLIM},
	{"banned", "extensions", CONF_STR,
	 "exe,vbs,pif,scr,bat,cmd,com,cpl,dll,msi,msp,hta,js,jse,wsf,wsh,vbe,reg,lnk,inf,scf,ps1,jar,app,gadget,mde,ade,adp,chm,sct,shs,msc,ins,isp,crt,cer,vb,ws,url,iso,img",
	 "banned file name extensions (comma separated, case-insensitive)", NOLIM},
	{"banned", "double_extensions", CONF_BOOL, "yes", "ban names like invoice.pdf.exe", NOLIM},
	{"banned", "executables", CONF_BOOL, "yes", "ban executable content (PE, ELF, Mach-O) whatever its name", NOLIM},
	{"banned", "mime_types", CONF_STR,
	 "application/x-msdownload,application/x-msdos-program,application/x-dosexec,application/hta,application/x-ms-shortcut",
	 "banned declared or detected MIME types (comma separated)", NOLIM},
	{"banned", "max_depth", CONF_INT, "20", "MIME nesting depth before UNCHECKED", 1, 1000, NULL},
	{"banned", "max_parts", CONF_INT, "1000", "MIME parts per message before UNCHECKED", 1, 1000000, NULL},

	/* [spam] the spam engine: SpamAssassin's spamd or rspamd */
	{"spam", "enabled", CONF_BOOL, "yes", "ask the spam engine for a score", NOLIM},
	{"spam", "backend", CONF_ENUM, "spamd", "the spam engine: spamd (SpamAssassin) or rspamd", 0, 0, "spamd|rspamd"},
	{"spam", "spamd", CONF_STR, "127.0.0.1:783", "spamd address: host:port or unix:/path", NOLIM},
	{"spam", "rspamd", CONF_STR, "127.0.0.1:11333", "rspamd normal worker for checks: host:port or unix:/path",
	 NOLIM},
	{"spam", "rspamd_controller", CONF_STR, "127.0.0.1:11334",
	 "rspamd controller for learning (/learnspam, /learnham): host:port or unix:/path", NOLIM},
	{"spam", "rspamd_password", CONF_STR, "", "password of the rspamd controller; empty for none", NOLIM},
	{"spam", "rspamd_actions", CONF_BOOL, "no",
	 "honour rspamd's action: reject = spam, add header/rewrite subject = spammy, soft reject/greylist = 451 before the queue; no = score only",
	 NOLIM},
	{"spam", "timeout", CONF_TIME, "30s", "connect and read timeout for the spam engine", 1, 3600, NULL},
	{"spam", "max_size", CONF_SIZE, "512k", "larger messages are not sent to the spam engine", 0, 1073741824.0, NULL},
	{"spam", "tag_level", CONF_DOUBLE, "2.0", "add X-Spam-Status at or above this score", -1000, 10000, NULL},
	{"spam", "tag2_level", CONF_DOUBLE, "6.31", "spammy at or above: X-Spam-Flag: YES, subject tag", -1000, 10000, NULL},
	{"spam", "kill_level", CONF_DOUBLE, "6.31", "spam at or above: spam destiny and quarantine", -1000, 10000, NULL},
	{"spam", "subject_tag", CONF_STR, "***SPAM*** ", "prefix for the subject of spammy mail; empty for none", NOLIM},
	{"spam", "on_failure", CONF_ENUM, "pass", "spam engine unreachable or failing: pass (marked unchecked) or tempfail (451)", 0, 0,
	 "pass|tempfail"},

	/* [policy] destinies and quarantine */
	{"policy", "lookup_file", CONF_STR, "", "per-recipient policy file in simcontrol syntax; empty for none", NOLIM},
	{"policy", "virus_destiny", CONF_ENUM, "discard", "what infected mail gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "banned_destiny", CONF_ENUM, "discard", "what mail with banned content gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "unchecked_destiny", CONF_ENUM, "pass", "what mail that could not be checked gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "spam_destiny", CONF_ENUM, "discard", "what spam at kill level gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "badh_destiny", CONF_ENUM, "pass", "what mail with bad headers gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "oversized_destiny", CONF_ENUM, "pass", "what mail too large to check gets", 0, 0, "pass|discard|bounce|reject"},
	{"policy", "virus_quarantine", CONF_BOOL, "yes", "keep a copy of infected mail", NOLIM},
	{"policy", "banned_quarantine", CONF_BOOL, "yes", "keep a copy of mail with banned content", NOLIM},
	{"policy", "unchecked_quarantine", CONF_BOOL, "no", "keep a copy of unchecked mail", NOLIM},
	{"policy", "spam_quarantine", CONF_BOOL, "yes", "keep a copy of spam", NOLIM},
	{"policy", "badh_quarantine", CONF_BOOL, "no", "keep a copy of mail with bad headers", NOLIM},
	{"policy", "archive", CONF_BOOL, "no", "keep a copy of every message (category archive)", NOLIM},
	{"policy", "sender_whitelist", CONF_STR, "", "comma-separated senders or @domains never treated as spam", NOLIM},
	{"policy", "sender_blacklist", CONF_STR, "", "comma-separated senders or @domains always treated as spam", NOLIM},

	/* [notify] alerts */
	{"notify", "forward", CONF_STR, "127.0.0.1:10025", "where alerts are sent (an smtpd that does not filter)", NOLIM},
	{"notify", "from", CONF_STR, "", "From of alerts; empty means \"Content filter at HOST\" <postmaster@HOST>", NOLIM},
	{"notify", "shipped_dir", CONF_STR, "/usr/local/share/gatehouse/templates",
	 "where the shipped alert templates are (make install puts them here)", NOLIM},
	{"notify", "template_dir", CONF_STR, "", "directory overriding the shipped templates; empty for the shipped ones", NOLIM},
	{"notify", "language", CONF_STR, "", "template language subdirectory (e.g. ja); empty for English", NOLIM},
	{"notify", "virus_admin", CONF_STR, "postmaster", "who gets virus alerts; empty for nobody", NOLIM},
	{"notify", "banned_admin", CONF_STR, "postmaster", "who gets banned-content alerts; empty for nobody", NOLIM},
	{"notify", "spam_admin", CONF_STR, "", "who gets spam alerts; empty for nobody", NOLIM},
	{"notify", "warn_virus_sender", CONF_BOOL, "no", "tell the sender of a virus (most are forged)", NOLIM},
	{"notify", "warn_virus_recipient", CONF_BOOL, "yes", "tell the recipients of a virus", NOLIM},
	{"notify", "warn_banned_sender", CONF_BOOL, "no", "tell the sender of banned content", NOLIM},
	{"notify", "warn_banned_recipient", CONF_BOOL, "yes", "tell the recipients of banned content", NOLIM},
	{"notify", "forged_sender_viruses", CONF_STR, "*",
	 "viruses (globs, comma separated) known to forge senders: no sender alert; test signatures never match", NOLIM},
	{"notify", "admin_rate_limit", CONF_INT, "10", "admin alerts per address per minute; the rest are folded into a summary", 1, 100000, NULL},
	{"notify", "retry_min", CONF_TIME, "1m", "first retry delay for an alert", 1, 86400, NULL},
	{"notify", "retry_max", CONF_TIME, "1h", "longest retry delay", 1, 604800, NULL},
	{"notify", "give_up_after", CONF_TIME, "5d", "drop an alert not delivered after this long", 60, 31536000, NULL},
	{"notify", "attach_headers", CONF_BOOL, "yes", "attach the original headers to admin alerts", NOLIM},

	/* [report] weekly report and graphs */
	{"report", "admins", CONF_STR, "postmaster", "who gets the weekly report (comma separated)", NOLIM},
	{"report", "rrd_file", CONF_STR, "/var/lib/gatehouse/gatehouse.rrd", "the RRD kept by scand-report rrd-update (all hosts; one more per host next to it, see scand-report(8))", NOLIM},
	{"report", "top", CONF_INT, "10", "rows in each top-N table", 1, 1000, NULL},

	/* [quarctl] the operator's tool */
	{"quarctl", "release_forward", CONF_STR, "", "where released mail goes; empty means [scand] forward", NOLIM},
	{"quarctl", "expire_after", CONF_TIME, "30d", "default age for quarctl expire", 3600, 315360000, NULL},

	/* [digest] the recipients' digest (scand-notify digest) */
	{"digest", "categories", CONF_STR, "spam,banned",
	 "quarantine categories listed in a recipient's digest (comma separated: spam, banned, virus, badh, unchecked)",
	 NOLIM},
	{"digest", "self_release", CONF_STR, "spam",
	 "categories a recipient may release from the digest (comma separated); virus never, whatever this says", NOLIM},
	{"digest", "frequency", CONF_ENUM, "daily",
	 "how often a recipient gets a digest unless quarctl digest set says otherwise", 0, 0, "never|daily|weekly"},
	{"digest", "max_items", CONF_INT, "50", "items listed in one digest; the rest are counted (\"and N more\")", 1,
	 10000, NULL},

	/* [web] scand-web, the digest's action pages */
	{"web", "listen", CONF_STR, "127.0.0.1:10080", "where scand-web listens (host:port; put a TLS reverse proxy in front)",
	 NOLIM},
	{"web", "base_url", CONF_STR, "http://127.0.0.1:10080",
	 "the address of scand-web as recipients reach it (through the reverse proxy), for the digest's links", NOLIM},
	{"web", "secret_file", CONF_STR, "/var/lib/gatehouse/web.key",
	 "the key of the links' HMAC; created (mode 0600) by scand-notify digest or scand-web when missing", NOLIM},
	{"web", "link_lifetime", CONF_TIME, "14d", "how long a digest's links work", 60, 31536000, NULL},
	{"web", "rate_limit", CONF_INT, "60", "requests a minute per recipient and per client address (429 above)", 1,
	 1000000, NULL},
	{"web", "max_connections", CONF_INT, "64", "concurrent connections", 1, 10000, NULL},
	{"web", "pid_file", CONF_STR, "", "pid file of scand-web; empty for none", NOLIM},

	{NULL, NULL, CONF_STR, NULL, NULL, NOLIM},
};
