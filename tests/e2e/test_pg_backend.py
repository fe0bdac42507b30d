"""scand, quarctl and Postfix on the PostgreSQL store (issue 19):
[scand] database = postgresql://gatehouse@127.0.0.1:PORT/DB on a real
PostgreSQL 15 cluster (conftest's postgres / pg_url, or a ghtest.Postgres
of the test's own).

- clean mail is delivered and an EICAR quarantined, with the quarantine
  copy as a file and then in the store (quarantine_backend = database,
  bytea in quar_blobs); the rows, recipients and host are read back with
  psql; quarctl list/show/release work against PostgreSQL and the released
  copy arrives through Postfix; scand-web shows the database copy;
- group commit: many concurrent clients, every message exactly one msgs
  row with its msgrcpt rows;
- PostgreSQL stopped under a running scand: 451 (never 250) and nothing
  written; started again: scand, not restarted, accepts and records mail,
  and the messages that got 451 are recorded once when resent;
- a verdict's transaction whose connection is cut between its statements
  (a test trigger ends its server process): 451, nothing committed, no
  quarantine file left, the next message on a new connection, the resent
  one recorded once;
- a verdict whose COMMIT (or lone statement) lost its answer with its
  connection (a relay between scand and PostgreSQL cuts it): scand looks
  up whether it committed, once the server process that had it has ended,
  and answers 250 when it did, 451 when it did not (also for a COMMIT the
  server was still running: scand ends it first), never a row without
  its quarantine file or a 451 for a recorded message.
"""

import hashlib
import os
import re
import selectors
import smtplib
import socket
import subprocess
import threading
import time
import zlib

import ghtest
from qctest import QStore
from test_digest_web import Web, http, make_token, read_key
from test_engines import EICAR, start_pair
from test_fleet_prep import conf_for_host


def db_of(url):
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def rows(pg, url, sql):
    return pg.psql(sql, db_of(url))


def msg_rows(pg, url, where="true"):
    """{subject: (mail_id, category, quar_state, quar_backend, host, attempt, [(addr, destiny)])}"""
    out = {}
    for mid, subj, cat, state, backend, host, attempt in rows(
            pg, url, "SELECT mail_id, subject, category, quar_state, quar_backend, host, attempt FROM msgs "
                     "WHERE %s ORDER BY id" % where):
        rc = rows(pg, url, "SELECT r.addr, r.destiny FROM msgrcpt r JOIN msgs m ON m.id = r.msg "
                           "WHERE m.mail_id = '%s' ORDER BY r.rseq" % mid)
        assert subj not in out, "two rows for %r" % subj
        out[subj] = (mid, cat, state, backend, host, attempt, [tuple(r) for r in rc])
    return out


def accepted(sc, subject, message_id=None):
    """Sends one message straight to scand: True for 250, False for 451
    (anything else fails the test)."""
    try:
        with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
            s.sendmail("alice@example.org", ["carol@example.com"],
                       ghtest.make_message(subject=subject, message_id=message_id))
        return True
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 451, e
        return False


def released_copies(pf):
    return [f for f in pf.delivered() if b"X-Quarantine-Released: " in open(f, "rb").read()]


STORECHECK = os.path.join(ghtest.BUILD, "tests", "tools", "gh-storecheck")


def storecheck(location):
    r = subprocess.run([STORECHECK, location], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_same_transcript_as_the_sqlite_reference(postgres, pg_url, workdir):
    """Every core op on both backends, with the same calls: the PostgreSQL
    transcript is the SQLite one, line for line."""
    sq = storecheck("sqlite:" + os.path.join(workdir, "ref.db"))
    pg = storecheck(pg_url)
    assert pg == sq
    # and the reference says what the contracts say (store.h)
    assert "put_many 0: 0/- -1/msgrcpt 0/- ids 1" in sq and "get 1: none" in sq
    assert "list subject-literal: 1: 4 count 1" in sq and "list offset: 2: 3 2 count 6" in sq
    assert "recovered 2" in sq and "blob of the deferred attempt: 1" in sq
    assert "blob 0 14 same 1" in sq and "blob drop 0 1" in sq and "purge missing 0 1" in sq
    assert "put_many one 0: -1/msgrcpt" in sq and sq[sq.index("put_many one 0: -1/msgrcpt") + 1] == "get 11: none"
    # text that quotes or separates (SQL, an array's literal) comes back as it was
    assert ('  rcpt 0 "q\\"x\\\\y,{z}"@example.com pass [250 "ok" \\ {1,2} \'x\'] released=0 [] '
            'notify=FAILURE orcpt= lead, and trail  deleted=0 list=[allow "x" for global: \\*@ex\'ample.org]') in sq
    assert "  rcpt 1 NULL discard [NULL] released=0 [] notify= orcpt= deleted=0 list=[\u00e9 \u00fc {} , \"\"]" in sq
    assert rows(postgres, pg_url, "SELECT count(*), min(host) FROM events") == [["1", "check.test"]]
    assert rows(postgres, pg_url, "SELECT count(*) FROM outbox WHERE host = 'check.test'") == [["8"]]
    # a batch of answers (one statement on PostgreSQL): each attempt settled as on SQLite
    b = sq.index("put_answers batch 0")
    assert "attempt=final" in sq[b + 1] and "pass [250 2.0.0 first]" in sq[b + 2]
    assert "attempt=deferred" in sq[b + 4] and "tempfail [452 4.2.2 full]" in sq[b + 6]
    assert "attempt=final" in sq[b + 7] and "reject [550 5.1.1 late]" in sq[b + 9]  # settled before: kept
    states = "SELECT state, last_error, count(*) FROM outbox GROUP BY state, last_error ORDER BY state, last_error"
    assert rows(postgres, pg_url, states) == [[str(v) for v in row] for row in ghtest.db_rows(
        os.path.join(workdir, "ref.db"), states)]


def test_scand_and_quarctl_on_postgresql(postfix_factory, scand_factory, postgres, pg_url, workdir):
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp",
                        {"scand": {"database": pg_url, "hostname": "mx-pg.test"}})
    assert not os.path.exists(sc.db)  # no SQLite file anywhere
    virus = ghtest.make_message(subject="pg eicar", body="virus\r\n" + EICAR.decode() + "\r\n.dot\r\nend\r\n")
    pf.send("alice@example.org", ["bob@example.com", "carol@example.com"], virus)
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="pg clean"))
    pf.wait_delivered(1)
    ghtest.wait_for(lambda: len(msg_rows(postgres, pg_url)) == 2, timeout=60,
                    what="two rows in PostgreSQL (scand log:\n%s)" % sc.log()[-2000:])
    # the answers are written behind the reply: wait for the attempts to be final
    ghtest.wait_for(lambda: {v[5] for v in msg_rows(postgres, pg_url).values()} == {"final"}, timeout=30,
                    what="both attempts final")
    got = msg_rows(postgres, pg_url)
    vmid, cat, state, backend, host, _, rc = got["pg eicar"]
    assert (cat, state, backend, host) == ("virus", "quarantined", "files", "mx-pg.test")
    assert [a for a, _ in rc] == ["bob@example.com", "carol@example.com"]
    assert {d for _, d in rc} <= {"discard", "bounce", "reject"}
    assert got["pg clean"][1:5] == ("clean", "none", "files", "mx-pg.test")
    assert got["pg clean"][6] == [("bob@example.com", "pass")]
    assert rows(postgres, pg_url, "SELECT count(*) FROM quar_blobs") == [["0"]]
    # the migrations ran once, on scand's first connection, naming its host
    n = len(os.listdir(os.path.join(ghtest.ROOT, "schema", "postgresql")))
    assert rows(postgres, pg_url, "SELECT count(*), min(host), max(host) FROM gatehouse_schema") == \
        [[str(n), "mx-pg.test", "mx-pg.test"]]

    # quarctl on the same configuration: list, show, release through Postfix
    qs = QStore(os.path.join(workdir, "qc"), scand=sc)
    listed = qs.json("list")
    assert [r["mail_id"] for r in listed] == [vmid] and listed[0]["host"] == "mx-pg.test"
    assert sorted(r["subject"] for r in qs.json("list", "--state", "any")) == ["pg clean", "pg eicar"]
    assert [r["subject"] for r in qs.json("list", "--state", "any", "--subject", "PG EIC*")] == ["pg eicar"]
    shown = qs.row(vmid)
    assert shown["state"] == "quarantined" and [r["addr"] for r in shown["rcpts"]] == [a for a, _ in rc]
    path = os.path.join(sc.quarantine, shown["quar_path"])
    assert os.path.exists(path)
    raw = qs.run("show", vmid, "--raw", check=True).stdout
    assert EICAR in raw and b"Subject: pg eicar" in raw
    r = qs.run("release", vmid)
    assert r.returncode == 0, r.stderr
    ghtest.wait_for(lambda: len(released_copies(pf)) == 2, timeout=30, what="two released copies")
    assert qs.row(vmid)["state"] == "released"
    assert rows(postgres, pg_url, "SELECT count(*) FROM msgrcpt r JOIN msgs m ON m.id = r.msg WHERE m.mail_id = "
                                  "'%s' AND r.released_at > 0 AND r.release_answer LIKE '250 %%'" % vmid) == [["2"]]
    # one audit event for the release, naming both recipients and the host
    [[action, detail, evhost]] = rows(postgres, pg_url, "SELECT action, detail, host FROM events "
                                                        "WHERE mail_id = '%s'" % vmid)
    assert (action, evhost) == ("release", "mx-pg.test") and "bob@example.com" in detail and \
        "carol@example.com" in detail

    # quarantine_backend = database: the copy is a bytea of the verdict's transaction
    sc.stop()
    sc.conf["scand"]["quarantine_backend"] = "database"
    sc.write_config()
    sc.start()
    before = set(os.listdir(sc.quarantine))
    body = "in the store\r\n" + EICAR.decode() + "\r\n"
    pf.send("alice@example.org", ["dave@example.com"], ghtest.make_message(subject="pg eicar db", body=body))
    ghtest.wait_for(lambda: "pg eicar db" in msg_rows(postgres, pg_url), timeout=60, what="the database copy's row")
    dmid, cat, state, backend, host, _, rc = msg_rows(postgres, pg_url)["pg eicar db"]
    assert (cat, state, backend, host) == ("virus", "quarantined", "database", "mx-pg.test")
    assert set(os.listdir(sc.quarantine)) == before
    [[hexblob, size, sha]] = rows(postgres, pg_url, "SELECT encode(b.data, 'hex'), m.quar_size, m.quar_sha256 "
                                                    "FROM quar_blobs b JOIN msgs m ON m.id = b.msg "
                                                    "WHERE m.mail_id = '%s'" % dmid)
    blob = bytes.fromhex(hexblob)
    assert blob[:2] == b"\x1f\x8b" and int(size) == len(blob)
    received = zlib.decompress(blob, 16 + zlib.MAX_WBITS)
    assert hashlib.sha256(received).hexdigest() == sha
    assert qs.run("show", dmid, "--raw", check=True).stdout == received
    # scand-web on the same store shows the database copy to its recipient
    port = ghtest.free_port()
    keyfile = os.path.join(workdir, "web.key")
    wconf = conf_for_host(sc, os.path.join(workdir, "web.conf"), "mx-pg.test",
                          {"web": {"listen": "127.0.0.1:%d" % port, "secret_file": keyfile}})
    web = Web(wconf, port, os.path.join(workdir, "web.log"))
    try:
        tok = make_token(read_key(keyfile), "dave@example.com", dmid, "view", int(time.time()) + 3600)
        status, _, page = http("http://127.0.0.1:%d/view/%s" % (port, tok))
        assert status == 200 and "pg eicar db" in page and "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in page, page
    finally:
        web.stop()
    r = qs.run("release", dmid)
    assert r.returncode == 0, r.stderr
    ghtest.wait_for(lambda: len(released_copies(pf)) == 3, timeout=30, what="the database copy released")
    assert any(open(f, "rb").read().endswith(received.replace(b"\r\n", b"\n")) for f in released_copies(pf))
    # purge deletes the blob in PostgreSQL
    qs.run("purge", "--yes", dmid, check=True)
    assert rows(postgres, pg_url, "SELECT count(*) FROM quar_blobs") == [["0"]]
    assert qs.row(dmid)["state"] == "purged"
    r = qs.run("fsck", "--json")
    assert r.returncode == 0, r.stdout + r.stderr


def test_group_commit_many_clients(postfix_factory, scand_factory, postgres, pg_url):
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp",
                        {"scand": {"database": pg_url, "max_servers": "8"}})
    nthreads, each = 8, 6
    errors = []

    def client(t):
        try:
            with smtplib.SMTP("127.0.0.1", sc.port, timeout=120) as s:
                for k in range(each):
                    rcpts = ["r%d-%d-%d@example.com" % (t, k, i) for i in range(1 + (t + k) % 3)]
                    s.sendmail("alice@example.org", rcpts, ghtest.make_message(subject="gc %d %d" % (t, k)))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    got = msg_rows(postgres, pg_url)
    assert len(got) == nthreads * each
    for t in range(nthreads):
        for k in range(each):
            rc = got["gc %d %d" % (t, k)][6]
            assert [a for a, _ in rc] == ["r%d-%d-%d@example.com" % (t, k, i) for i in range(1 + (t + k) % 3)]
    assert rows(postgres, pg_url, "SELECT count(*) FROM msgrcpt") == \
        [[str(sum(1 + (t + k) % 3 for t in range(nthreads) for k in range(each)))]]
    assert rows(postgres, pg_url, "SELECT count(*) FROM (SELECT mail_id FROM msgs GROUP BY mail_id "
                                  "HAVING count(*) > 1) d") == [["0"]]
    pf.wait_delivered(nthreads * each, timeout=60)
    # group commit did group: fewer transactions than verdicts (measured: 48 in 29)
    assert sc.stop() == 0, sc.log()[-3000:]
    m = re.search(r"stopped; (\d+) verdict rows written in (\d+) transactions", sc.log())
    assert m and int(m.group(1)) == nthreads * each and int(m.group(2)) < int(m.group(1)), sc.log()[-3000:]


def test_postgresql_down_451_then_recovers(postfix_factory, scand_factory, workdir):
    pg = ghtest.Postgres(os.path.join(workdir, "pg")).start()
    try:
        url = pg.createdb("down") + "?connect_timeout=2"
        pf, sc = start_pair(postfix_factory, scand_factory, "smtp", {"scand": {"database": url}})
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="before"))
        pf.wait_delivered(1)
        assert list(msg_rows(pg, url)) == ["before"]

        pg.stop()
        # straight to scand: 451, never 250
        for i in range(3):
            assert not accepted(sc, "direct down", "<down-%d@gh-test>" % i)
        # through Postfix: deferred and kept in its queue
        pf.send("alice@example.org", ["bob@example.com"],
                ghtest.make_message(subject="queued while down", message_id="<queued@gh-test>"))
        ghtest.wait_for(lambda: "451 4.3.0" in pf.log(), timeout=30, what="scand's 451 in the maillog")
        assert pf.queue_ids() and len(pf.delivered()) == 1
        # the reason is logged (from the list lookup or the verdict's commit, whichever came first)
        assert "Connection refused" in sc.log(), sc.log()[-3000:]

        pg.start()
        # scand, not restarted, accepts and records new mail (its connections come back by themselves)
        ghtest.wait_for(lambda: accepted(sc, "direct after", "<after@gh-test>"), timeout=60, step=0.5,
                        what="scand to accept mail again")
        pf.flush()
        ghtest.wait_for(lambda: "queued while down" in msg_rows(pg, url) and not pf.queue_ids(), timeout=60,
                        what="the deferred message recorded and delivered")
        got = msg_rows(pg, url)
        # nothing of the refused attempts was written; each message once
        assert sorted(got) == ["before", "direct after", "queued while down"]
        assert rows(pg, url, "SELECT count(*) FROM msgs WHERE message_id = '<queued@gh-test>'") == [["1"]]
        assert rows(pg, url, "SELECT count(*) FROM msgs WHERE message_id LIKE '<down-%'") == [["0"]]
        ghtest.wait_for(lambda: {v[5] for v in msg_rows(pg, url).values()} == {"final"}, timeout=30,
                        what="every attempt final")
        assert all(v[6] and all(d == "pass" for _, d in v[6]) for v in got.values())
        assert len([f for f in pf.delivered() if b"queued while down" in open(f, "rb").read()]) == 1

        # scand started while PostgreSQL is down: it starts, answers 451,
        # and records mail once PostgreSQL is there; quarctl says why it fails
        assert sc.stop() == 0, sc.log()[-3000:]
        pg.stop()
        sc.start()
        assert sc.proc.poll() is None and "ready:" in sc.log(), sc.log()[-3000:]
        assert not accepted(sc, "start down")
        r = QStore(os.path.join(workdir, "qc"), scand=sc).run("list")
        assert r.returncode != 0 and b"quarctl: " in r.stderr and b"Connection refused" in r.stderr, r.stderr
        pg.start()
        ghtest.wait_for(lambda: accepted(sc, "started down, then up"), timeout=60, step=0.5,
                        what="scand started while down to record mail")
        got = msg_rows(pg, url)
        assert "started down, then up" in got and "start down" not in got
        assert sc.stop() == 0, sc.log()[-3000:]
    finally:
        pg.stop()


def test_jailed_scand_reaches_postgresql_and_reconnects(postfix_factory, scand_factory, workdir):
    """scand chrooted and dropped to gatehouse: no store file to re-own, its
    connections are made (and made again after a PostgreSQL restart) from
    inside the jail, over TCP."""
    pg = ghtest.Postgres(os.path.join(workdir, "pg")).start()
    try:
        url = pg.createdb("jail") + "?connect_timeout=2"
        jail = os.path.join(workdir, "jail")
        r = ghtest.run([os.path.join(ghtest.ROOT, "contrib", "chroot-setup"), jail, "--signatures",
                        os.path.join(ghtest.ROOT, "signatures"), "--templates",
                        os.path.join(ghtest.ROOT, "templates")], check=False)
        assert r.returncode == 0, r.stdout
        sections = {"scand": {"chroot": jail, "user": "gatehouse", "group": "gatehouse", "allow_root": "no",
                              "database": url, "hostname": "mx-jail.test",
                              "quarantine_dir": jail + "/quarantine", "work_dir": jail + "/work",
                              "pid_file": os.path.join(workdir, "scand.pid")},
                    "clamav": {"database_dirs": jail + "/signatures", "reload_check_interval": "0"},
                    "notify": {"template_dir": jail + "/templates"}}
        pf, sc = start_pair(postfix_factory, scand_factory, "smtp", sections)
        assert sc.proc.poll() is None and re.search(r"ready: chroot %s, uid gatehouse" % re.escape(jail),
                                                   sc.log()), sc.log()
        assert os.readlink("/proc/%d/root" % sc.proc.pid) == jail
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="jailed clean"))
        pf.send("alice@example.org", ["bob@example.com"],
                ghtest.make_message(subject="jailed eicar", body=EICAR.decode() + "\r\n"))
        pf.wait_delivered(1)
        ghtest.wait_for(lambda: len(msg_rows(pg, url)) == 2, timeout=60, what="two rows (log:\n%s)" % sc.log())
        got = msg_rows(pg, url)
        assert got["jailed clean"][1:5] == ("clean", "none", "files", "mx-jail.test")
        assert got["jailed eicar"][1:5] == ("virus", "quarantined", "files", "mx-jail.test")

        # a restart of PostgreSQL: the jailed, unprivileged scand sees its
        # connections closed and makes new ones at once, from inside the jail
        pg.stop()
        pg.start()
        for i in range(3):
            assert accepted(sc, "jailed after restart %d" % i), sc.log()[-3000:]
        got = msg_rows(pg, url)
        assert all("jailed after restart %d" % i in got for i in range(3)), sorted(got)
        assert "reply: 451" not in sc.log(), sc.log()[-3000:]
        sc.stop()  # (its exit status: LeakSanitizer cannot read /proc in the jail)
        assert "stopped; " in sc.log()
    finally:
        pg.stop()


def test_connection_lost_inside_a_transaction(postfix_factory, scand_factory, postgres, pg_url):
    """The verdict's transaction loses its connection between its
    statements (the msgs row written, its alerts not yet): nothing of it is
    committed, the client gets 451, never 250; scand reconnects by itself
    and the message sent again is recorded once, with its alerts once."""
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp", {"scand": {"database": pg_url}})
    assert accepted(sc, "before")
    # the server process of whoever queues an alert for a message with
    # this subject ends its own connection, inside that transaction
    rows(postgres, pg_url, """CREATE FUNCTION gh_test_cut() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT subject FROM msgs WHERE mail_id = NEW.mail_id) = 'cut me' THEN
            PERFORM pg_terminate_backend(pg_backend_pid());
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER gh_test_cut BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION gh_test_cut();""")
    virus = ghtest.make_message(subject="cut me", message_id="<cut@gh-test>",
                                body="virus\r\n" + EICAR.decode() + "\r\n")
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
            try:
                s.sendmail("alice@example.org", ["bob@example.com"], virus)
                raise AssertionError("250 for a verdict whose transaction was cut")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 451, e
        assert rows(postgres, pg_url, "SELECT count(*) FROM msgs WHERE subject = 'cut me'") == [["0"]]
    assert "store: insert outbox: spg_ins_alert: server closed the connection" in sc.log(), sc.log()[-3000:]
    # the next message goes through on a new connection, without a restart
    ghtest.wait_for(lambda: accepted(sc, "after the cut"), timeout=30, step=0.2, what="scand to record mail again")
    rows(postgres, pg_url, "DROP TRIGGER gh_test_cut ON outbox")
    with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
        s.sendmail("alice@example.org", ["bob@example.com"], virus)
    got = msg_rows(postgres, pg_url)
    assert sorted(got) == ["after the cut", "before", "cut me"]
    assert got["cut me"][1] == "virus" and got["cut me"][2] == "quarantined"
    mail_id = got["cut me"][0]
    assert int(rows(postgres, pg_url, "SELECT count(*) FROM outbox WHERE mail_id = '%s'" % mail_id)[0][0]) >= 1
    assert rows(postgres, pg_url, "SELECT count(*) FROM outbox WHERE mail_id NOT IN (SELECT mail_id FROM msgs) "
                                  "AND mail_id <> ''") == [["0"]]
    # the cut attempts' quarantine files went with them: one file, the recorded one's
    files = [f for _, _, fs in os.walk(sc.quarantine) for f in fs]
    assert len(files) == 1 and mail_id in files[0], files
    r = QStore(os.path.join(sc.dir, "qc"), scand=sc).run("fsck", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sc.stop() == 0, sc.log()[-3000:]


class AnswerCutter:
    """A TCP relay between scand and PostgreSQL. Armed with a protocol
    message scand sends (a regex on the bytes), it ends both sides of the
    first connection that sends it after sending a verdict's msgs insert
    (so never a new connection's migration): "before" it reaches the
    server, "after" the server's answer to it arrived (that answer never
    reaches scand), or "at-once" right after passing it on."""

    COMMIT = re.compile(re.escape(b"Q\x00\x00\x00\x0bCOMMIT\x00"))  # PQexec("COMMIT")
    # the Bind of the verdict's msgs insert (a Parse names it too, after
    # its length; a Bind after its unnamed portal's empty name)
    INSERT = re.compile(b"B....\x00spg_ins_msg_rcpts\x00", re.S)

    def __init__(self, pg_port):
        self.pg_port = pg_port
        self.armed = None  # (mode, regex)
        self.cuts = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode, what=COMMIT):
        with self.lock:
            self.armed = (mode, what, set())

    def _take(self, conn, data):
        """(mode, where the cut falls in data) for the armed cut, or None."""
        with self.lock:
            if not self.armed:
                return None
            mode, what, primed = self.armed
            ins = self.INSERT.search(data)
            after = ins.end() if ins and what is not self.INSERT else 0
            m = what.search(data, after) if (conn in primed or ins) else None
            if ins:
                primed.add(conn)
            if not m:
                return None
            self.armed = None
            return mode, (m.start() if mode == "before" else m.end())

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        server = socket.create_connection(("127.0.0.1", self.pg_port))
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    cut = self._take(client, data) if key.fileobj is client else None
                    if cut:
                        mode, end = cut
                        server.sendall(data if mode == "after" else data[:end])
                        if mode == "after":
                            self._answered(sel, client, server)
                        self.cuts.append(mode)
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            server.close()

    @staticmethod
    def _answered(sel, client, server):
        """Passes scand's bytes on (the rest of an extended query: its
        Sync) and drops the server's, until the server is ready for the
        next query (ReadyForQuery): what was sent has run."""
        answer = b""
        deadline = time.monotonic() + 30
        while b"Z\x00\x00\x00\x05" not in answer:
            assert time.monotonic() < deadline, answer
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(65536)
                assert data, "closed before the answer"
                if key.fileobj is client:
                    server.sendall(data)
                else:
                    answer += data

    def close(self):
        self.listener.close()


def test_lost_commit_answer_is_looked_up(postfix_factory, scand_factory, postgres, pg_url):
    """A verdict's COMMIT, or its lone statement, whose answer is lost with
    its connection: 250 if it committed (the row, its alerts and its
    quarantine file all there, once), 451 if not (nothing of it there, and
    nothing later), never a row without its file."""
    port = int(re.search(r":(\d+)/", pg_url).group(1))
    cutter = AnswerCutter(port)
    via = pg_url.replace(":%d/" % port, ":%d/" % cutter.port)
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp", {"scand": {"database": via}})
    try:
        assert accepted(sc, "warm")
        def virus(subject):
            return ghtest.make_message(subject=subject, message_id="<%s@gh-test>" % subject.replace(" ", "-"),
                                       body="virus\r\n" + EICAR.decode() + "\r\n")
        def send(raw):
            try:
                with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
                    s.sendmail("alice@example.org", ["bob@example.com"], raw)
                return 250
            except smtplib.SMTPDataError as e:
                return e.smtp_code
        # 1. the COMMIT ran, its answer lost: recorded, 250
        cutter.arm("after")
        assert send(virus("committed")) == 250, sc.log()[-3000:]
        # 2. the COMMIT never reached the server: nothing recorded, 451
        cutter.arm("before")
        assert send(virus("not committed")) == 451
        # 3. a COMMIT the server is still running when scand looks (a
        # deferred trigger makes it take 3 s): scand ends that server
        # process first, so what it finds stays true: 451, and no row later
        rows(postgres, pg_url, """CREATE FUNCTION gh_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.subject = 'slow commit' THEN PERFORM pg_sleep(3); END IF;
              RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER gh_test_slow AFTER INSERT ON msgs DEFERRABLE INITIALLY DEFERRED
              FOR EACH ROW EXECUTE FUNCTION gh_test_slow();""")
        cutter.arm("at-once")
        t0 = time.monotonic()
        assert send(virus("slow commit")) == 451
        time.sleep(max(0.0, 4.0 - (time.monotonic() - t0)))
        assert rows(postgres, pg_url, "SELECT count(*) FROM msgs WHERE subject = 'slow commit'") == [["0"]]
        rows(postgres, pg_url, "DROP TRIGGER gh_test_slow ON msgs")
        # 4. clean mail, no alerts: its rows are one statement, no COMMIT;
        # its answer lost after it ran: recorded, 250, delivered once
        cutter.arm("after", AnswerCutter.INSERT)
        assert accepted(sc, "lone statement"), sc.log()[-3000:]
        assert cutter.cuts == ["after", "before", "at-once", "after"]

        assert send(virus("not committed")) == 250 and send(virus("slow commit")) == 250
        got = msg_rows(postgres, pg_url)
        assert sorted(got) == ["committed", "lone statement", "not committed", "slow commit", "warm"]
        for subject in ("committed", "not committed", "slow commit"):
            assert got[subject][1:3] == ("virus", "quarantined"), got[subject]
            mail_id = got[subject][0]
            assert int(rows(postgres, pg_url, "SELECT count(*) FROM outbox WHERE mail_id = '%s'" % mail_id)[0][0]) >= 1
        # one quarantine file per recorded virus, none for the 451s
        files = sorted(f for _, _, fs in os.walk(sc.quarantine) for f in fs)
        assert len(files) == 3 and all(any(got[s][0] in f for f in files)
                                       for s in ("committed", "not committed", "slow commit")), files
        ghtest.wait_for(lambda: any(b"lone statement" in open(f, "rb").read() for f in pf.delivered()),
                        timeout=30, what="the lone statement's message delivered")
        time.sleep(1)
        assert sum(b"Subject: lone statement" in open(f, "rb").read() for f in pf.delivered()) == 1
        r = QStore(os.path.join(sc.dir, "qc"), scand=sc).run("fsck", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        assert sc.stop() == 0, sc.log()[-3000:]
    finally:
        cutter.close()
