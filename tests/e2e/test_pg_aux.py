"""The PostgreSQL store's outbox, report, lists and digest ops
(common/store_pg_aux.c, issue 19) against a real PostgreSQL 15 cluster
(conftest's postgres / pg_url, ghtest.Postgres), through the real programs.

- several scand-notify senders ("run", one per host) on one PostgreSQL
  outbox send each of 200 alerts exactly once (claims FOR UPDATE SKIP
  LOCKED), and the outbox's retry, failure and admin-summary folding keep
  the SQLite semantics;
- scand-report on a PostgreSQL store prints exactly what it prints for the
  same rows in SQLite (every format, the top tables, the per-host table),
  and rrd-update fills the same RRDs;
- quarctl lists add/show/del/import/export and digest set/preview, and
  scand-notify digest, give the same results on both backends;
- scand's lookups on PostgreSQL, answered from a copy of the lists, follow
  every change (quarctl's, psql's, an expiry, a server restart) and ask
  the server nothing while nothing changes.

Messages are written into SQLite by bench/report_gen (store_put) and copied
row by row into PostgreSQL with psql's COPY (this branch's PostgreSQL
store_put is another op's work); outbox rows are inserted with psql.
"""

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time

import ghtest
import test_report as tr
from notify_util import NOTIFY, TEMPLATES, SmtpSink, asan_env, senders

QUARCTL = os.path.join(ghtest.BIN, "quarctl")
LOOKUP = os.path.join(ghtest.BUILD, "tests", "tools", "gh-listlookup")


def dbname(url):
    return url.rsplit("/", 1)[1]


def write_conf(path, database, extra="", hostname="mx.example.org"):
    with open(path, "w") as f:
        f.write("[scand]\ndatabase = %s\nhostname = %s\nlog_level = info\nquarantine_dir = %s\n%s"
                % (database, hostname, os.path.join(os.path.dirname(path), "quarantine"), extra))
    return path


def run(argv, check=True, env=None):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                       env=env or asan_env())
    if check:
        assert r.returncode == 0, (argv, r.returncode, r.stderr)
    return r


def quarctl(conf, *args, check=True):
    return run([QUARCTL, "-c", conf] + list(args), check=check)


def pg_copy(pg, db, sqlite_db, tables):
    """The rows of tables, ids kept, from a SQLite store into a migrated
    PostgreSQL one (COPY ... csv: an unquoted empty field is NULL)."""
    con = sqlite3.connect(sqlite_db)
    for t in tables:
        cols = [c[1] for c in con.execute("SELECT * FROM pragma_table_info(?) ORDER BY cid", (t,))]
        lines = []
        for row in con.execute("SELECT %s FROM %s ORDER BY id" % (", ".join(cols), t)):
            lines.append(",".join("" if v is None else '"%s"' % str(v).replace('"', '""') for v in row))
        r = subprocess.run([ghtest.PG_BIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url(db), "-c",
                            "COPY %s (%s) FROM STDIN WITH (FORMAT csv)" % (t, ", ".join(cols))],
                           input="\n".join(lines) + "\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 0, r.stderr
        pg.psql("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))" % (t, t), db)
        assert pg.psql("SELECT count(*) FROM %s" % t, db) == [[str(len(lines))]]
    con.close()


# ---- 1. the outbox -------------------------------------------------------------

def header_id(data):
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Message-Id")


def queue_sql(n, kind_expr, rcpt_expr, first=1):
    """An INSERT of n pending, due outbox rows g = first.. (mail id and
    Message-Id made of g); kind_expr and rcpt_expr are SQL over g."""
    return ("INSERT INTO outbox (created, mail_id, kind, env_from, rcpt, body, next_try, state, host) "
            "SELECT extract(epoch FROM now())::bigint - 5, 'PG' || lpad(g::text, 10, '0'), {kind}, '', {rcpt}, "
            "convert_to('From: gatehouse@mx.example.org' || E'\\r\\n' || 'To: ' || {rcpt} || E'\\r\\n' || "
            "'Subject: alert ' || g || E'\\r\\n' || 'Message-Id: <alert-' || g || '@pgaux.test>' || E'\\r\\n' || "
            "E'\\r\\n' || 'alert ' || g || E'\\r\\n', 'UTF8'), extract(epoch FROM now())::bigint - 5, 'pending', "
            "'mx.example.org' FROM generate_series({first}, {last}) g").format(kind=kind_expr, rcpt=rcpt_expr,
                                                                               first=first, last=first + n - 1)


def test_several_senders_send_each_alert_once(postgres, pg_url, tmp_path):
    db = dbname(pg_url)
    sink = SmtpSink(delay=0.01).start()
    confs = [write_conf(os.path.join(str(tmp_path), "mx%d.conf" % k), pg_url,
                        "[notify]\nforward = 127.0.0.1:%d\nretry_min = 60s\nadmin_rate_limit = 1000\n" % sink.port,
                        hostname="mx%d.example.org" % k) for k in range(3)]
    quarctl(confs[0], "lists", "show")  # opening the store migrates it
    # half admin alerts (the rate limit counts them), seven recipients
    postgres.psql(queue_sql(200, "CASE WHEN g % 2 = 0 THEN 'virus-admin' ELSE 'virus-sender' END",
                            "'r' || (g % 7) || '@example.org'"), db)
    logs = [os.path.join(str(tmp_path), "mx%d.log" % k) for k in range(len(confs))]
    try:
        with senders(confs, logs):
            deadline = time.time() + 90
            while time.time() < deadline and postgres.psql("SELECT count(*) FROM outbox WHERE state <> 'sent'",
                                                           db) != [["0"]]:
                time.sleep(0.2)
            time.sleep(1.5)  # a second round of every sender: nothing more goes out
    finally:
        sink.stop()
    rows = postgres.psql("SELECT state, attempts, last_error, sent_at IS NOT NULL FROM outbox", db)
    assert len(rows) == 200 and all(r == ["sent", "1", "", "t"] for r in rows), rows[:3]
    ids = [header_id(data) for _, _, data in sink.messages]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert set(ids) == {"<alert-%d@pgaux.test>" % g for g in range(1, 201)}
    assert all(mf == "<>" for mf, _, _ in sink.messages)
    # who sent what, from each sender's log: every alert by one sender
    # only, and the senders really ran side by side
    sent = []
    for f in logs:
        with open(f, errors="replace") as fh:
            text = fh.read()
        assert "AddressSanitizer" not in text and "runtime error" not in text, text[-2000:]
        sent.append(re.findall(r"\((PG\d{10})\) virus-\w+ alert sent to", text))
    assert sum(len(s) for s in sent) == 200
    assert len(set().union(*sent)) == 200
    assert sum(1 for s in sent if s) >= 2, [len(s) for s in sent]


def test_outbox_retry_fail_and_fold(postgres, pg_url, tmp_path):
    """As on SQLite (test_notify_outbox): a 4xx retries, a 5xx fails for
    good, admin alerts beyond the rate limit fold into one summary."""
    db = dbname(pg_url)
    sink = SmtpSink(code=451).start()
    sink.per_rcpt.update({"admin@example.org": 250, "dead@example.org": 550})
    conf = write_conf(os.path.join(str(tmp_path), "scand.conf"), pg_url,
                      "[notify]\nforward = 127.0.0.1:%d\nretry_min = 1s\nretry_max = 2s\nadmin_rate_limit = 2\n"
                      % sink.port)
    try:
        quarctl(conf, "lists", "show")
        postgres.psql(queue_sql(5, "'virus-admin'", "'admin@example.org'"), db)
        postgres.psql(queue_sql(1, "'virus-sender'", "'dead@example.org'", first=6), db)
        postgres.psql(queue_sql(1, "'virus-sender'", "'slow@example.org'", first=7), db)
        t0 = int(time.time())
        out = run([NOTIFY, "-c", conf, "send-pending"]).stdout
        t1 = int(time.time())
        assert out.startswith("sent 2, deferred 1, failed 1, folded 3, summaries 1"), out
        rows = {int(r[0]): r[1:] for r in postgres.psql(
            "SELECT id, kind, rcpt, state, attempts, last_error, next_try, next_try - created FROM outbox ORDER BY id",
            db)}
        assert len(rows) == 8
        summary = [i for i, r in rows.items() if r[0] == "admin-summary"]
        assert len(summary) == 1 and rows[summary[0]][1:4] == ["admin@example.org", "pending", "0"]
        assert rows[summary[0]][6] == "0"  # due at once (next_try = created)
        admin = [rows[i] for i in range(1, 6)]
        assert [r[2:4] for r in admin[:2]] == [["sent", "1"]] * 2
        assert [r[2:5] for r in admin[2:]] == [["sent", "0", "folded into summary %d" % summary[0]]] * 3
        assert rows[6][2:4] == ["failed", "1"] and "550" in rows[6][4]
        assert rows[7][2:4] == ["pending", "1"] and "451" in rows[7][4] and t0 + 1 <= int(rows[7][5]) <= t1 + 1
        # a summary a minute: more admin alerts over the limit wait
        postgres.psql(queue_sql(3, "'virus-admin'", "'admin@example.org'", first=8), db)
        time.sleep(1.2)
        sink.code = 250
        out = run([NOTIFY, "-c", conf, "send-pending"]).stdout
        assert out.startswith("sent 2, deferred 0, failed 0, folded 0, summaries 0"), out
        states = dict((int(i), s) for i, s in postgres.psql("SELECT id, state FROM outbox", db))
        assert states[summary[0]] == "sent" and states[7] == "sent"
        assert sorted(s for i, s in states.items() if i > 8) == ["pending"] * 3
        got = [header_id(d) for _, _, d in sink.messages if b"@pgaux.test>" in d]
        assert got == ["<alert-1@pgaux.test>", "<alert-2@pgaux.test>", "<alert-7@pgaux.test>"]
        assert len(sink.messages) == 4
        summary_body = [d for _, rc, d in sink.messages if b"folded" in d]
        assert len(summary_body) == 1 and all(b"PG000000000%d" % g in summary_body[0] for g in (3, 4, 5))
    finally:
        sink.stop()


# ---- 2. scand-report: the same report from both backends ---------------------------

def report_pair(postgres, tmp_path, name):
    """The report test's synthetic store (test_report.make_spec, three
    hosts, some list entries) in SQLite and, copied, in PostgreSQL: two
    configurations (sqlite, pg) with an RRD file each."""
    d = str(tmp_path)
    os.chmod(d, 0o755)
    sq = os.path.join(d, "gatehouse.db")
    msgs = tr.make_spec()
    tr.load(sq, msgs, d)
    for i, m in enumerate(msgs):
        m["host"] = ("mx-a.example.net", "mx-b.example.net", "")[i % 3]
    tr.set_hosts(sq, msgs)
    with sqlite3.connect(sq) as c:
        c.execute("UPDATE msgrcpt SET list_entry = CASE id % 3 WHEN 0 THEN 'block #3 for global: *@bulk1.example' "
                  "ELSE 'allow #1 for dom1.example: alice@ok.example' END WHERE id % 5 = 0")
    postgres.dropdb(name)
    url = postgres.createdb(name)
    web = ("[web]\nsecret_file = %s/web.key\nbase_url = https://mail.example.org/q/\n[notify]\nshipped_dir = %s\n"
           % (d, TEMPLATES))
    confs = {}
    for b, database in (("sqlite", sq), ("pg", url)):
        confs[b] = write_conf(os.path.join(d, b + ".conf"), database, "[report]\nrrd_file = %s\ntop = %d\n%s"
                              % (os.path.join(d, b, "g.rrd"), tr.TOP, web))
        os.makedirs(os.path.join(d, b), exist_ok=True)
    quarctl(confs["pg"], "lists", "show")
    pg_copy(postgres, name, sq, ["msgs", "msgrcpt"])
    return confs, msgs


def test_report_same_on_both_backends(postgres, tmp_path):
    confs, msgs = report_pair(postgres, tmp_path, "gh_pgaux_report")
    try:
        for args in (["--week", "2026-W47"], ["--week", "2026-W46"], ["--since", "@%d" % (tr.W47 + 86400 + 1234),
                                                                     "--until", "@%d" % (tr.DENSE + 1800)]):
            for fmt in ("text", "csv", "json", "html"):
                out = {b: run([tr.REPORT, "-c", c, "weekly", "--format", fmt] + args).stdout for b, c in confs.items()}
                assert out["pg"] == out["sqlite"], (args, fmt)
        j = json.loads(run([tr.REPORT, "-c", confs["pg"], "weekly", "--week", "2026-W47", "--format", "json"]).stdout)
        e = tr.expected(msgs, tr.W47, tr.W48)
        for key in ("top_viruses", "top_banned", "top_spam_senders", "top_spam_sender_domains",
                    "top_spam_recipients", "hosts", "unchecked"):
            assert [(x["name"], x["count"]) for x in j[key]] == e[key], key
        assert len(j["top_viruses"]) == tr.TOP and [n for n, _ in e["hosts"]] != []
        assert sorted(x["name"] for x in j["top_list_entries"]) == ["allow #1 for dom1.example: alice@ok.example",
                                                                "block #3 for global: *@bulk1.example"]
        assert j["totals"]["messages"]["current"] == len([m for m in msgs if tr.W47 <= m["time"] < tr.W48])

        # rrd-update: the same RRDs (every host's too) and the same watermark
        now = tr.W48 + 600
        for c in confs.values():
            run([tr.REPORT, "-c", c, "--now", str(now), "rrd-update"], env=tr.ENV)
        d = str(tmp_path)
        files = {b: sorted(os.listdir(os.path.join(d, b))) for b in confs}
        assert files["pg"] == files["sqlite"] and len(files["pg"]) == 4, files
        window = (now // 60 * 60 - 60 - 1400 * 60, now // 60 * 60 - 60)
        for f in files["pg"]:
            got = {b: {t: {k: None if v != v else v for k, v in vals.items()}  # NaN: unknown
                       for t, vals in tr.fetch(os.path.join(d, b, f), *window).items()} for b in confs}
            assert got["pg"] == got["sqlite"], f
        tr.assert_minutes(os.path.join(d, "pg", "g.rrd"), tr.minute_counts(msgs), *window)
        with sqlite3.connect(os.path.join(d, "gatehouse.db")) as c:
            (sq_state,) = c.execute("SELECT last_minute, last_msg_id FROM report_rrd").fetchall()
        assert postgres.psql("SELECT last_minute, last_msg_id FROM report_rrd", "gh_pgaux_report") == [
            [str(v) for v in sq_state]]
        # a second update: nothing counted twice
        run([tr.REPORT, "-c", confs["pg"], "--now", str(now + 120), "rrd-update"], env=tr.ENV)
        tr.assert_minutes(os.path.join(d, "pg", "g.rrd"), tr.minute_counts(msgs), *window)
    finally:
        postgres.dropdb("gh_pgaux_report")


def unexpire(text):
    """A digest with each link token's expiry and signature left out: the
    address and message id it carries stay, and so does every other byte."""
    def one(m):
        payload = m.group(2) + "=" * (-len(m.group(2)) % 4)
        addr, mail_id, expiry = base64.urlsafe_b64decode(payload).decode().split("\n")
        assert expiry.isdigit() and int(expiry) > time.time(), expiry
        return "/q/%s/<%s %s>" % (m.group(1), addr, mail_id)
    out, n = re.subn(r"/q/(\w+)/([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+", one, text)
    assert n > 0, text
    return out


def test_digest_same_on_both_backends(postgres, tmp_path):
    confs, msgs = report_pair(postgres, tmp_path, "gh_pgaux_digest")
    try:
        key = os.path.join(str(tmp_path), "web.key")  # one key: the same links from both stores
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")
        for c in confs.values():
            quarctl(c, "digest", "set", "Dom2.Example", "weekly")
            quarctl(c, "digest", "set", "user3@dom1.example", "never")
            quarctl(c, "digest", "set", "user4@dom1.example", "daily")
            quarctl(c, "digest", "set", "user4@dom1.example", "default")
        assert postgres.psql("SELECT target, frequency FROM digest_pref ORDER BY target", "gh_pgaux_digest") == [
            ["dom2.example", "weekly"], ["user3@dom1.example", "never"]]
        since = "@%d" % tr.W46
        for addr in ("User1@Dom0.example", "user5@dom3.example"):
            prev = {b: quarctl(c, "digest", "preview", addr).stdout for b, c in confs.items()}
            # each link's token holds an expiry (now + its lifetime): the
            # two previews may run either side of a second's boundary
            assert unexpire(prev["pg"]) == unexpire(prev["sqlite"]), addr
            assert prev["pg"].startswith("To: %s\n" % addr.lower()) and prev["pg"].count("\n  Release: ") >= 2
        dry = {b: run([NOTIFY, "-c", c, "digest", "--dry-run", "--since", since]).stdout for b, c in confs.items()}
        assert dry["pg"] == dry["sqlite"], dry
        listed = re.findall(r"^(\S+): (\d+) item\(s\)$", dry["pg"], re.M)
        assert len(listed) > 30 and "user3@dom1.example" not in dict(listed)  # its "never"
        # queued once per period (the mark and the outbox row in one
        # transaction): a second run queues nothing
        first = {b: run([NOTIFY, "-c", c, "digest", "--since", since]).stdout.splitlines()[0] for b, c in confs.items()}
        assert first["pg"] == first["sqlite"], first
        n = int(re.match(r"digests queued (\d+) \(\d+ items\), already sent this period 0$", first["pg"]).group(1))
        assert n > 3
        again = run([NOTIFY, "-c", confs["pg"], "digest", "--since", since]).stdout.splitlines()[0]
        assert again == "digests queued 0 (0 items), already sent this period %d" % n
        assert postgres.psql("SELECT count(*), count(DISTINCT outbox_id) FROM digest_sent", "gh_pgaux_digest") == [
            [str(n), str(n)]]
        assert postgres.psql("SELECT count(*), count(DISTINCT kind), min(host) FROM outbox",
                             "gh_pgaux_digest") == [[str(n), "1", "mx.example.org"]]
    finally:
        postgres.dropdb("gh_pgaux_digest")


# ---- 3. quarctl lists ----------------------------------------------------------------

def test_lists_same_on_both_backends(postgres, pg_url, tmp_path):
    d = str(tmp_path)
    confs = {"sqlite": write_conf(os.path.join(d, "sq.conf"), os.path.join(d, "gatehouse.db")),
             "pg": write_conf(os.path.join(d, "pg.conf"), pg_url)}
    steps = [("add", "allow", "Friend@Partner.example", "--for", "Bob@Example.com", "--note", "x, \"y\""),
             ("add", "block", "*@.spam.example", "--expires", "2031-06-01"),
             ("add", "block", "*offer*@*", "--for", ".example.net"),
             ("add", "block", "*@Bulk.example", "--for", "example.net", "--note", "first"),
             ("add", "allow", "*@bulk.example", "--for", "example.net", "--note", "replaced"),
             ("show",), ("show", "--for", "bob@example.com"), ("show", "--for", "example.net"), ("export",),
             ("del", "1", "99"), ("show",), ("export",)]
    # show's columns: id scope kind pattern expires by created note; the
    # two stores were written seconds apart: created is left out
    unstamp = lambda text: [l.split("\t")[:6] + l.split("\t")[7:] for l in text.splitlines()]
    for step in steps:
        out = {b: quarctl(c, "lists", *step, check=False) for b, c in confs.items()}
        assert out["pg"].returncode == out["sqlite"].returncode, step
        assert unstamp(out["pg"].stdout) == unstamp(out["sqlite"].stdout) and out["pg"].stdout, step
        assert out["pg"].returncode == (3 if step[0] == "del" else 0), out["pg"].stderr
    shown = {b: json.loads(quarctl(c, "lists", "show", "--json").stdout) for b, c in confs.items()}
    strip = lambda es: [{k: v for k, v in e.items() if k not in ("created", "created_at")} for e in es]
    assert strip(shown["pg"]) == strip(shown["sqlite"])
    assert [(e["id"], e["scope"], e["kind"], e["pattern"], e["note"]) for e in shown["pg"]] == [
        (2, "global", "block", "*@.spam.example", ""), (3, ".example.net", "block", "*offer*@*", ""),
        (4, "example.net", "allow", "*@bulk.example", "replaced")]  # replaced in place: its id kept

    # scand's lookup (store_list_lookup: the probe of scopes x keys, then
    # the most specific entry): the same answers, expired entries ignored
    for step in (("add", "block", "*@bulk.example", "--for", "alice@example.net"),
                 ("add", "allow", "ceo@sub.spam.example", "--for", "example.net")):
        for c in confs.values():
            quarctl(c, "lists", *step)
    senders = ["x@bulk.example", "y@Bulk.Example", "bob@sub.spam.example", "ceo@sub.spam.example",
               "big-offer-now@x.org", "", "z@elsewhere.example"]
    stores = {"sqlite": os.path.join(d, "gatehouse.db"), "pg": pg_url}
    for now in (int(time.time()), 1938211200):  # now, and 2031-06-02 (the global entry expired)
        for rcpt in ("alice@example.net", "carol@mx.example.net", "dave@example.net", "erin@other.example"):
            got = {b: run([LOOKUP, path, str(now), rcpt] + senders).stdout for b, path in stores.items()}
            assert got["pg"] == got["sqlite"], (now, rcpt)
            if rcpt == "alice@example.net":
                hits = dict(line.split(": ", 1) for line in got["pg"].splitlines())
                assert hits["x@bulk.example"].startswith("block #5 for alice@example.net") and \
                    hits["y@Bulk.Example"] == hits["x@bulk.example"]
                assert hits["ceo@sub.spam.example"].startswith("allow #6 for example.net")
                assert hits["bob@sub.spam.example"] == ("none" if now > 1938000000 else
                                                         "block #2 for global: *@.spam.example")
                assert hits[""] == "none" and hits["z@elsewhere.example"] == "none"

    # export from PostgreSQL, import into a new PostgreSQL store: the same entries
    csv = quarctl(confs["pg"], "lists", "export").stdout
    path = os.path.join(d, "lists.csv")
    with open(path, "w", newline="") as f:
        f.write(csv)
    postgres.dropdb("gh_pgaux_lists2")
    q2 = write_conf(os.path.join(d, "q2.conf"), postgres.createdb("gh_pgaux_lists2"))
    try:
        assert "imported 5 entries" in quarctl(q2, "lists", "import", path).stdout
        assert quarctl(q2, "lists", "export").stdout == csv
        quarctl(q2, "lists", "import", path)  # again: replaced, not doubled
        assert postgres.psql("SELECT count(*), min(id), max(id) FROM lists", "gh_pgaux_lists2") == [["5", "1", "5"]]
        # a bad row anywhere: nothing of the file is stored
        with open(path, "a") as f:
            f.write("x@new.example,allow,a@b.example,,\r\nnowhere,block,a@b.example,,\r\n")
        r = quarctl(q2, "lists", "import", path, check=False)
        assert r.returncode == 2 and 'lists.csv:8: unknown scope "nowhere"' in r.stderr, r.stderr
        assert postgres.psql("SELECT count(*) FROM lists WHERE scope = 'x@new.example'", "gh_pgaux_lists2") == [["0"]]
        # the probe keys were stored as SQLite stores them
        assert postgres.psql("SELECT scope, pkey FROM lists ORDER BY id", "gh_pgaux_lists2") == [
            ["global", "@.spam.example"], [".example.net", ""], ["alice@example.net", "@bulk.example"],
            ["example.net", "@bulk.example"], ["example.net", "ceo@sub.spam.example"]]
    finally:
        postgres.dropdb("gh_pgaux_lists2")


class Lookups:
    """gh-listlookup STORE - RCPT: lookups on one handle, as scand's."""

    def __init__(self, url, rcpt):
        self.proc = subprocess.Popen([LOOKUP, url, "-", rcpt], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=asan_env())

    def ask(self, sender):
        self.proc.stdin.write(sender + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.startswith(sender + ": "), (line, self.proc.poll())
        return line[len(sender) + 2:].rstrip("\n")

    def until(self, sender, want, timeout=30.0):
        """The answers until one starts with want (an edit is seen once its
        notification arrives: at once, give or take its trip)."""
        seen = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen.append(self.ask(sender))
            if seen[-1].startswith(want):
                return seen
            time.sleep(0.02)
        raise AssertionError("%r never answered %r: %r" % (sender, want, seen[-5:]))

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        assert rc == 0, self.proc.stderr.read()


def test_lookups_follow_every_list_change(tmp_path):
    """scand's lookups on PostgreSQL come from a copy of the lists
    (store_pg_lists.c): every change, by quarctl or by hand in psql, is
    seen by the next lookups (notified by schema 011's trigger), an expiry
    without any change too, the copy comes back after the server
    restarted, a table too big to copy is asked row by row, and lookups
    without a change send the server no probe."""
    pgdir = tempfile.mkdtemp(prefix="gh-pg-")  # the postgres user reaches it (not pytest's tmp_path)
    pg = ghtest.Postgres(pgdir).start()
    try:
        url = pg.createdb("lk")
        conf = write_conf(os.path.join(str(tmp_path), "pg.conf"), url)
        quarctl(conf, "lists", "show")  # migrated
        scans = lambda: [int(v) for v in pg.psql(
            "SELECT coalesce(idx_scan, 0), seq_scan FROM pg_stat_user_tables WHERE relname = 'lists'", "lk")[0]]
        lk = Lookups(url, "bob@example.com")
        assert lk.ask("x@promo.example") == "none"
        quarctl(conf, "lists", "add", "block", "*@promo.example", "--for", "bob@example.com")
        assert lk.until("x@promo.example", "block #1 for bob@example.com: *@promo.example")
        pg.psql("UPDATE lists SET kind = 'allow'", "lk")
        assert lk.until("x@promo.example", "allow #1 for bob@example.com")
        pg.psql("DELETE FROM lists", "lk")
        assert lk.until("x@promo.example", "none")
        # an entry that expires: no change is notified when it does
        expires = int(time.time()) + 10
        pg.psql("INSERT INTO lists (scope, kind, pattern, pkey, created_at, expires) VALUES "
                "('global', 'block', '*@promo.example', '@promo.example', 0, %d)" % expires, "lk")
        assert lk.until("x@promo.example", "block #")
        time.sleep(max(0.0, expires - time.time()) + 0.2)
        assert lk.ask("x@promo.example") == "none"
        assert lk.ask("y@other.example") == "none"

        # a thousand lookups without a change: not one probe reaches the server
        for i in range(1000):
            lk.ask("s%d@promo.example" % (i % 7))
        lk.close()
        pg.psql("SELECT pg_stat_force_next_flush()", "lk")
        before = scans()
        lk = Lookups(url, "bob@example.com")
        for i in range(1000):
            assert lk.ask("s%d@promo.example" % (i % 7)) == "none"
        lk.close()
        after = ghtest.wait_for(lambda: (lambda a: a if a[1] > before[1] else None)(scans()), timeout=10,
                                what="the copy's one scan counted")
        assert after[0] == before[0] and after[1] == before[1] + 1, (before, after)  # one copy, no probe

        # the server restarts: the lookups fail while it is down, then the
        # copy is loaded and notified again on the new connection
        lk = Lookups(url, "bob@example.com")
        assert lk.ask("x@promo.example") == "none"
        pg.stop()
        assert lk.ask("x@promo.example").startswith("error: ")
        pg.start()
        lk.until("x@promo.example", "none")
        pg.psql("INSERT INTO lists (scope, kind, pattern, pkey, created_at) VALUES "
                "('bob@example.com', 'block', 'x@promo.example', 'x@promo.example', 0)", "lk")
        assert lk.until("x@promo.example", "block #")

        # too many entries to copy (more than 20,000): each lookup asks the
        # server, and sees what it holds; the copy is tried again once fewer
        pg.psql("INSERT INTO lists (scope, kind, pattern, pkey, created_at) SELECT 'global', 'block', "
                "'*@d' || g || '.example', '@d' || g || '.example', 0 FROM generate_series(1, 20000) g", "lk")
        lk.until("u@d19999.example", "block #")
        assert lk.ask("x@promo.example").startswith("block #")
        assert lk.ask("v@d5.example").startswith("block #") and lk.ask("v@e5.example") == "none"
        pg.psql("DELETE FROM lists WHERE pattern LIKE '*@d%'", "lk")
        lk.until("u@d19999.example", "none")
        assert lk.ask("x@promo.example").startswith("block #")
        lk.close()
    finally:
        pg.stop()
        shutil.rmtree(pgdir, ignore_errors=True)


def test_lookups_reload_the_copy_once_a_minute_without_notifications(tmp_path):
    """Where no notification arrives (a pooler that hands scand's
    connection to others between statements), the copy of the lists is
    loaded again once a minute: a change made without one is not seen for
    that minute, then it is. Here the change is made with schema 011's
    trigger disabled, so the server sends no notification."""
    pgdir = tempfile.mkdtemp(prefix="gh-pg-")
    pg = ghtest.Postgres(pgdir).start()
    try:
        url = pg.createdb("lkm")
        conf = write_conf(os.path.join(str(tmp_path), "pg.conf"), url)
        quarctl(conf, "lists", "add", "block", "*@promo.example", "--for", "bob@example.com")
        lk = Lookups(url, "bob@example.com")
        assert lk.ask("x@promo.example").startswith("block #1 for bob@example.com")  # the copy, loaded now
        loaded = time.monotonic()
        pg.psql("ALTER TABLE lists DISABLE TRIGGER lists_changed; UPDATE lists SET kind = 'allow'; "
                "ALTER TABLE lists ENABLE TRIGGER lists_changed", "lkm")
        assert pg.psql("SELECT kind FROM lists", "lkm") == [["allow"]]
        stale = []
        while time.monotonic() - loaded < 55:  # the copy answers, as it was loaded
            stale.append(lk.ask("x@promo.example"))
            assert stale[-1].startswith("block #1 for bob@example.com"), (len(stale), stale[-1])
            time.sleep(0.5)
        assert len(stale) > 50
        seen = lk.until("x@promo.example", "allow #1 for bob@example.com", timeout=20)
        assert 59 <= time.monotonic() - loaded < 75 and seen[0].startswith("block #"), seen
        lk.close()
    finally:
        pg.stop()
        shutil.rmtree(pgdir, ignore_errors=True)
