"""A fleet (issue 19): several scand hosts on one PostgreSQL store, end to
end against a real PostgreSQL 15 (conftest's postgres / pg_url, or a
ghtest.Postgres of the test's own when it must be stopped), real scand,
real Postfix, real quarctl and scand-notify.

- two scand ([scand] hostname hostA / hostB) on one database under
  concurrent load (4 connections each, clean mail and EICAR): one msgs row
  per message, with the host that took it; every clean message delivered
  once; the answers written;
- an EICAR quarantined in the store by hostA is listed, shown and released
  by a quarctl whose configuration names hostB and has no quarantine
  files; it arrives through Postfix byte for byte, the release event
  names hostB;
- PostgreSQL stopped in the middle of the load: scand answers 451 (a
  direct client and Postfix's queue both see it), never 250 without a
  row; started again, scand reconnects by itself and the client's retries
  and Postfix's queue bring every message in: one row each (besides
  deferred attempts), every attempt settled and its answers written,
  every clean one delivered once, every virus alert sent once;
- two scand-notify senders (hostA, hostB) on one outbox: every alert sent
  once, both senders sending;
- the /metrics page of both scand parses with prometheus_client's parser
  and each one's counters match the store's rows of its host.
"""

import hashlib
import os
import smtplib
import subprocess
import threading
import time
import zlib
from collections import Counter, defaultdict

import ghtest
from notify_util import NOTIFY, TEMPLATES, asan_env, senders
from qctest import QStore
from test_metrics import CATEGORIES, DESTINIES, banned_exe, samples, scrape

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def dbname(url):
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def rows(pg, url, sql):
    return pg.psql(sql, dbname(url))


def fleet_sections(url, host, **more):
    sec = {"scand": {"database": url, "hostname": host, "quarantine_backend": "database"}}
    sec["scand"].update(more)
    return sec


def message(tag, i, virus=False, rcpt="bob@example.com"):
    """(Message-ID, raw bytes): clean text of varying size, or an EICAR."""
    mid = "<fleet-%s-%d@gh-test>" % (tag, i)
    body = (EICAR + "\r\n") if virus else "".join(
        "line %d of message %s-%d, nothing to see here.\r\n" % (k, tag, i) for k in range(20 + (i * 37) % 400))
    return mid, ghtest.make_message(subject="fleet %s %d" % (tag, i), body=body, to=rcpt, message_id=mid)


def header_mid(raw):
    """The Message-ID field of a message's header block (CRLF or LF)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def drive(port, messages, conc, retry_until=None):
    """Sends messages [(mid, raw)] to 127.0.0.1:port over conc connections
    (each kept for its messages). Returns {mid: [reply codes, in order]}
    (0: connection lost). With retry_until (a time.monotonic() deadline) a
    4xx or a lost connection is retried after 0.2 s, as a client would."""
    todo = list(messages)
    lock = threading.Lock()
    out = {}

    def worker():
        s = None
        while True:
            with lock:
                if not todo:
                    break
                mid, raw = todo.pop(0)
            codes = []
            while True:
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
                    s.sendmail("alice@example.org", [header_to(raw)], raw)
                    codes.append(250)
                    break
                except smtplib.SMTPRecipientsRefused as e:  # sendmail has reset the transaction
                    codes.append(min(c for c, _ in e.recipients.values()))
                except smtplib.SMTPResponseException as e:  # data, sender, connect
                    codes.append(e.smtp_code)
                    if e.smtp_code == 421:
                        s = None
                except (smtplib.SMTPServerDisconnected, OSError):
                    codes.append(0)
                    s = None
                if not retry_until or codes[-1] // 100 == 5 or time.monotonic() > retry_until:
                    break
                time.sleep(0.2)
            with lock:
                out[mid] = codes
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def header_to(raw):
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"to:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no To:")


def answers_written(pg, url, nmsgs):
    """Every one of the nmsgs rows has its recipients' answers (answers.c
    writes them behind the replies)."""
    return lambda: (int(rows(pg, url, "SELECT count(*) FROM msgs")[0][0]) == nmsgs and
                    int(rows(pg, url, "SELECT count(*) FROM msgrcpt WHERE smtp_answer = ''")[0][0]) == 0)


def test_two_hosts_one_store_under_load(postgres, pg_url, scand_factory, sink):
    a = scand_factory(sink.port, name="hostA", sections=fleet_sections(pg_url, "hostA"))
    b = scand_factory(sink.port, name="hostB", sections=fleet_sections(pg_url, "hostB"))
    n = 200
    load = {tag: [message(tag, i, virus=i % 5 == 4) for i in range(n)] for tag in ("A", "B")}
    got = {}

    def run(tag, sc):
        got[tag] = drive(sc.port, load[tag], 4)
    threads = [threading.Thread(target=run, args=(t, sc)) for t, sc in (("A", a), ("B", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag in ("A", "B"):
        assert len(got[tag]) == n
        bad = {m: c for m, c in got[tag].items() if c != [250]}
        assert not bad, "not answered 250 once: %s" % sorted(bad.items())[:10]
    ghtest.wait_for(answers_written(postgres, pg_url, 2 * n), timeout=60, what="the answers written")

    table = rows(postgres, pg_url, "SELECT message_id, host, category, attempt, mail_id FROM msgs")
    per_mid = Counter(r[0] for r in table)
    assert len(table) == 2 * n and set(per_mid.values()) == {1}, [m for m, k in per_mid.items() if k != 1]
    by_mid = {r[0]: r for r in table}
    for tag in ("A", "B"):
        for i, (mid, _) in enumerate(load[tag]):
            _, host, cat, attempt, _ = by_mid[mid]
            assert (host, cat, attempt) == ("host" + tag, "virus" if i % 5 == 4 else "clean", "final"), by_mid[mid]
    assert len({r[4] for r in table}) == 2 * n  # mail ids unique across the hosts
    assert rows(postgres, pg_url, "SELECT m.host, r.destiny, count(*) FROM msgrcpt r JOIN msgs m ON m.id = r.msg "
                                  "GROUP BY 1, 2 ORDER BY 1, 2") == \
        [["hostA", "discard", str(n // 5)], ["hostA", "pass", str(n - n // 5)],
         ["hostB", "discard", str(n // 5)], ["hostB", "pass", str(n - n // 5)]]
    # the viruses' copies are in the store, with their hashes; no file on either host
    assert rows(postgres, pg_url, "SELECT host, count(*) FROM msgs m JOIN quar_blobs b ON b.msg = m.id "
                                  "WHERE m.quar_state = 'quarantined' AND m.quar_backend = 'database' "
                                  "GROUP BY host ORDER BY host") == [["hostA", str(n // 5)], ["hostB", str(n // 5)]]
    assert [f for sc in (a, b) for _, _, fs in os.walk(sc.quarantine) for f in fs] == []

    # every clean message delivered, once; no virus delivered
    delivered = Counter(header_mid(t.data) for t in sink.messages())
    want = {mid for tag in ("A", "B") for i, (mid, _) in enumerate(load[tag]) if i % 5 != 4}
    assert {m: k for m, k in delivered.items() if m in want} == {m: 1 for m in want}
    assert not [m for m in delivered if m and m.startswith("<fleet-") and m not in want]
    # each host's log names its own messages only
    for tag, other, sc in (("A", "B", a), ("B", "A", b)):
        log = sc.log()
        assert "Message-ID: <fleet-%s-" % tag in log and "Message-ID: <fleet-%s-" % other not in log


def write_conf(path, sections):
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write("[%s]\n" % sec)
            f.writelines("%s = %s\n" % item for item in kv.items())
    return path


def test_quarantined_by_a_released_by_b(postgres, pg_url, postfix_factory, scand_factory, workdir):
    from test_engines import start_pair
    pf, a = start_pair(postfix_factory, scand_factory, "smtp", fleet_sections(pg_url, "hostA"))
    body = "an infected one\r\n" + EICAR + "\r\n.a dot line\r\nlast line\r\n"
    raw = ghtest.make_message(subject="fleet release", body=body, message_id="<fleet-release@gh-test>")
    pf.send("alice@example.org", ["bob@example.com", "carol@example.com"], raw)

    # host B: its own configuration and an empty quarantine directory of its own
    bdir = os.path.join(workdir, "hostB")
    os.makedirs(os.path.join(bdir, "quarantine"))
    qb = QStore(bdir, scand=a)
    qb.quarantine = os.path.join(bdir, "quarantine")
    qb.conf = write_conf(os.path.join(bdir, "scand.conf"), {
        "scand": {"database": pg_url, "hostname": "hostB", "quarantine_dir": qb.quarantine,
                  "forward": "127.0.0.1:%d" % pf.reinject_port, "work_dir": bdir},
        "notify": {"forward": "127.0.0.1:%d" % pf.reinject_port, "shipped_dir": TEMPLATES}})
    listed = ghtest.wait_for(lambda: qb.json("list", "--state", "any"), timeout=60,
                             what="host B lists it (scand log:\n%s)" % a.log()[-2000:])
    assert len(listed) == 1
    row = listed[0]
    assert (row["host"], row["state"], row["quar_backend"], row["subject"]) == \
        ("hostA", "quarantined", "database", "fleet release")
    lines = qb.run("list", "--state", "any", check=True).stdout.decode().splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[-1] == "hostA"

    # the copy in the store is gzip of the message as received; B shows it byte for byte
    (hexdata,) = rows(postgres, pg_url, "SELECT encode(b.data, 'hex') FROM quar_blobs b JOIN msgs m ON m.id = b.msg "
                                        "WHERE m.mail_id = '%s'" % row["mail_id"])[0]
    received = zlib.decompress(bytes.fromhex(hexdata), 16 + zlib.MAX_WBITS)
    assert hashlib.sha256(received).hexdigest() == row["quar_sha256"]
    assert received.endswith(body.encode())
    assert qb.run("show", row["mail_id"], "--raw", check=True).stdout == received
    assert "Host:        hostA" in qb.run("show", row["mail_id"], check=True).stdout.decode()
    assert os.listdir(qb.quarantine) == [] and [f for _, _, fs in os.walk(a.quarantine) for f in fs] == []

    # B releases it: both recipients get it through Postfix, byte for byte
    r = qb.run("release", row["mail_id"])
    assert r.returncode == 0, r.stderr
    files = pf.wait_delivered(2, timeout=60)
    got = sorted(files)
    assert len(got) == 2
    for f in got:
        data = open(f, "rb").read()
        assert b"X-Quarantine-Released: " in data
        assert data.endswith(received.replace(b"\r\n", b"\n")), data[-400:]
        assert ghtest.body_of(data) == body.replace("\r\n", "\n").encode()
    assert sorted(os.path.basename(f).split(".", 1)[1] for f in got) == \
        ["bob@example.com.eml", "carol@example.com.eml"]
    assert qb.row(row["mail_id"])["state"] == "released"
    ev = rows(postgres, pg_url, "SELECT host FROM events WHERE mail_id = '%s' AND action = 'release'" % row["mail_id"])
    assert ev and {h for (h,) in ev} == {"hostB"}, ev
    assert rows(postgres, pg_url, "SELECT host FROM msgs WHERE mail_id = '%s'" % row["mail_id"]) == [["hostA"]]
    assert rows(postgres, pg_url, "SELECT count(*) FROM msgrcpt WHERE msg = (SELECT id FROM msgs WHERE mail_id = "
                                  "'%s') AND released_at > 0" % row["mail_id"]) == [["2"]]


def test_postgres_down_mid_load(postfix_factory, scand_factory, workdir):
    pg = ghtest.Postgres(os.path.join(workdir, "pg")).start()
    try:
        url = pg.createdb("fleet")
        _down_mid_load(pg, url, postfix_factory, scand_factory)
    finally:
        pg.stop()


def _down_mid_load(pg, url, postfix_factory, scand_factory):
    from test_engines import start_pair
    # Postfix takes 3 of scand's 4 servers: the direct client always has one
    sections = fleet_sections(url, "hostA")
    sections["notify"] = {"admin_rate_limit": "1000"}  # an alert each, none folded into a summary
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp", sections, maxproc=3)
    queued = [message("Q", i, virus=i % 10 == 9) for i in range(120)]
    direct = [message("D", i) for i in range(60)]
    with smtplib.SMTP("127.0.0.1", pf.smtpd_port, timeout=60) as s:  # into Postfix's queue
        for _, raw in queued:
            s.sendmail("alice@example.org", ["bob@example.com"], raw)
    got = {}
    client = threading.Thread(target=lambda: got.update(drive(sc.port, direct, 1,
                                                                 retry_until=time.monotonic() + 240)))
    client.start()
    try:
        ghtest.wait_for(lambda: int(rows(pg, url, "SELECT count(*) FROM msgs")[0][0]) >= 30, timeout=120,
                        what="30 rows before the stop")
        pg.stop()
        # down: Postfix's deliveries to scand are answered 451 (the
        # direct client's too: see below), scand keeps running
        ghtest.wait_for(lambda: " said: 451 4.3.0" in pf.log(), timeout=60,
                        what="Postfix told 451 while PostgreSQL is down (scand log:\n%s)" % sc.log()[-2000:])
        time.sleep(2)
        assert sc.proc.poll() is None
        pg.start()
    finally:
        client.join()

    want_clean = {mid for mid, _ in direct} | {mid for i, (mid, _) in enumerate(queued) if i % 10 != 9}
    viruses = {mid for i, (mid, _) in enumerate(queued) if i % 10 == 9}

    def delivered():
        return Counter(header_mid(open(f, "rb").read()) for f in pf.delivered())
    ghtest.wait_for(lambda: set(delivered()) >= want_clean, timeout=240,
                    what="every clean message delivered (scand log:\n%s)" % sc.log()[-3000:])
    ghtest.wait_for(lambda: not pf.queue_ids(), timeout=120, what="Postfix's queue empty")
    # every answer written (behind the replies; those met by the outage
    # written again once PostgreSQL is back), every attempt settled
    ghtest.wait_for(lambda: rows(pg, url, "SELECT count(*) FROM msgs WHERE attempt = 'open'") == [["0"]] and
                    rows(pg, url, "SELECT count(*) FROM msgrcpt WHERE smtp_answer = ''") == [["0"]], timeout=60,
                    what="every attempt settled (scand log:\n%s)" % sc.log()[-3000:])
    # the direct client: turned away while down, each message 250 in the end
    assert {m: c[-1] for m, c in got.items()} == {mid: 250 for mid, _ in direct}
    refused = [c for cs in got.values() for c in cs if c != 250]
    assert refused and set(refused) <= {451, 0}, refused
    assert 451 in refused

    # exactly once: every clean message delivered once, one row per message
    # besides deferred attempts (a 250 never without its row)
    d = delivered()
    assert {m: d[m] for m in want_clean} == {m: 1 for m in want_clean}
    assert not viruses & set(d)
    per = defaultdict(list)
    for mid, attempt, cat, qstate, host in rows(pg, url, "SELECT message_id, attempt, category, quar_state, host "
                                                         "FROM msgs"):
        per[mid].append((attempt, cat, qstate, host))
    assert set(per) == want_clean | viruses
    for mid, rs in per.items():
        kept = [r for r in rs if r[0] != "deferred"]
        assert len(kept) == 1, (mid, rs)
        attempt, cat, qstate, host = kept[0]
        assert host == "hostA" and cat == ("virus" if mid in viruses else "clean"), (mid, rs)
        assert attempt == "final", (mid, rs)
        assert qstate == ("quarantined" if mid in viruses else "none"), (mid, rs)
    # the virus alerts held by their attempts went out, each once (the
    # last ones may still be on their way: sent as their attempts settle)
    def alert_counter():
        return Counter(header_mid(open(f, "rb").read()) for f in pf.delivered(alerts=True))
    ghtest.wait_for(lambda: len(alert_counter()) >= 2 * len(viruses) and not pf.queue_ids(), timeout=60,
                    what="every held alert delivered")
    time.sleep(1)
    alerts = alert_counter()
    assert set(alerts.values()) == {1} and len(alerts) == 2 * len(viruses), alerts
    assert sc.proc.poll() is None  # it recovered by itself, no restart


def test_two_notify_senders_one_outbox(postgres, pg_url, sink, workdir):
    sink.data_delay = 0.1  # each alert takes a while: the two senders overlap
    confs = {}
    for host in ("hostA", "hostB"):
        confs[host] = write_conf(os.path.join(workdir, host + ".conf"), {
            "scand": {"database": pg_url, "hostname": host, "log_level": "info"},
            "notify": {"forward": "127.0.0.1:%d" % sink.port, "retry_min": "30s", "admin_rate_limit": "1000"}})
    # 20 virus verdicts, each with an admin alert and a recipient's alert,
    # queued by both hosts through the real path (notify_alerts + store_put)
    for i in range(20):
        host = "hostA" if i % 2 == 0 else "hostB"
        r = subprocess.run([NOTIFY, "-c", confs[host], "-T", TEMPLATES, "simulate", "-q", "-C", "virus",
                            "-s", "s%d@example.net" % i, "-r", "r%d@example.org" % i, "-v", "Eicar-Test-Signature",
                            "-S", "fleet alert %d" % i], capture_output=True, timeout=60, env=asan_env())
        assert r.returncode == 0, r.stderr
    outbox = rows(postgres, pg_url, "SELECT id, host, state FROM outbox ORDER BY id")
    assert len(outbox) == 40 and {s for _, _, s in outbox} == {"pending"}
    assert Counter(h for _, h, _ in outbox) == {"hostA": 20, "hostB": 20}

    logs = [os.path.join(workdir, host + ".log") for host in ("hostA", "hostB")]
    with senders([confs["hostA"], confs["hostB"]], logs):
        ghtest.wait_for(lambda: rows(postgres, pg_url, "SELECT count(*) FROM outbox WHERE state <> 'sent'") ==
                        [["0"]], timeout=90, what="every alert sent")
        time.sleep(1)  # a second send of a row would come now
    assert rows(postgres, pg_url, "SELECT state, attempts, count(*) FROM outbox GROUP BY 1, 2") == \
        [["sent", "1", "40"]]
    msgs = sink.messages()
    ids = [header_mid(t.data) for t in msgs]
    assert len(ids) == 40 and len(set(ids)) == 40 and None not in ids
    # the Message-ID of each row's body (its header block comes first)
    stored = rows(postgres, pg_url, "SELECT (regexp_match(encode(body, 'escape'), 'message-id:[ \\t]*(<[^>]+>)', "
                                    "'i'))[1] FROM outbox")
    assert sorted(ids) == sorted(m for (m,) in stored)
    # both hosts' senders took part (each says so in its EHLO and its log)
    by_helo = Counter(t.helo for t in msgs)
    assert set(by_helo) == {"hostA", "hostB"} and sum(by_helo.values()) == 40, by_helo
    sent_lines = [open(f, errors="replace").read().count(" alert sent to <") for f in logs]
    assert sent_lines == [by_helo["hostA"], by_helo["hostB"]]


def test_metrics_of_both_hosts_match_the_store(postgres, pg_url, scand_factory, sink):
    scands = {}
    for host in ("hostA", "hostB"):
        mport = ghtest.free_port()
        scands[host] = (scand_factory(sink.port, name=host, sections=fleet_sections(
            pg_url, host, metrics_listen="127.0.0.1:%d" % mport)), mport)
    for host, (_, mport) in scands.items():
        fams, _ = scrape(mport)
        assert samples(fams["gatehouse_messages"], "category", "_total") == {c: 0 for c in CATEGORIES}
    two = ["bob@example.com", "carol@example.com"]
    mixes = {
        "hostA": [(message("MA", 0)[1], ["bob@example.com"]), (message("MA", 1)[1], two),
                  (message("MA", 2, virus=True)[1], ["bob@example.com"]), (banned_exe(), ["bob@example.com"]),
                  (message("MA", 3)[1], ["bob@example.com"])],
        "hostB": [(message("MB", 0)[1], two), (message("MB", 1, virus=True)[1], two),
                  (message("MB", 2, virus=True)[1], ["bob@example.com"])],
    }
    for host, msgs in mixes.items():
        with smtplib.SMTP("127.0.0.1", scands[host][0].port, timeout=60) as s:
            for raw, rcpts in msgs:
                s.sendmail("alice@example.org", rcpts, raw)
    total = sum(len(m) for m in mixes.values())
    ghtest.wait_for(answers_written(postgres, pg_url, total), timeout=60, what="the answers written")
    for host, (sc, mport) in scands.items():
        ghtest.wait_for(lambda: samples(scrape(mport)[0]["gatehouse_sessions_in_flight"]) == {None: 0},
                        what="%s's session ended" % host)
        fams, _ = scrape(mport)
        q = "'%s'" % host
        by_cat = {c: float(k) for c, k in rows(postgres, pg_url, "SELECT category, count(*) FROM msgs WHERE host = "
                                                                  "%s GROUP BY 1" % q)}
        assert sum(by_cat.values()) == len(mixes[host]), by_cat
        assert samples(fams["gatehouse_messages"], "category", "_total") == \
            {c: by_cat.get(c, 0.0) for c in CATEGORIES}, host
        by_rcpt = {d: float(k) for d, k in rows(postgres, pg_url, "SELECT r.destiny, count(*) FROM msgrcpt r JOIN msgs "
                                                                  "m ON m.id = r.msg WHERE m.host = %s GROUP BY 1" % q)}
        assert samples(fams["gatehouse_recipients"], "destiny", "_total") == \
            {d: by_rcpt.get(d, 0.0) for d in DESTINIES}, host
        by_msg = {d: float(k) for d, k in rows(postgres, pg_url, "SELECT r.destiny, count(DISTINCT r.msg) FROM msgrcpt "
                                                                 "r JOIN msgs m ON m.id = r.msg WHERE m.host = %s "
                                                                 "GROUP BY 1" % q)}
        assert samples(fams["gatehouse_messages_destiny"], "destiny", "_total") == \
            {d: by_msg.get(d, 0.0) for d in DESTINIES}, host
        size = float(rows(postgres, pg_url, "SELECT sum(size) FROM msgs WHERE host = %s" % q)[0][0])
        assert samples(fams["gatehouse_received_bytes"], None, "_total") == {None: size}, host
        lat = fams["gatehouse_message_duration_seconds"]
        assert samples(lat, None, "_count") == {None: float(len(mixes[host]))}, host
        commit = fams["gatehouse_store_commit_seconds"]
        assert 1 <= samples(commit, None, "_count")[None] <= 2 * len(mixes[host]) + 2, host
        assert samples(commit, None, "_sum")[None] > 0
        assert samples(fams["gatehouse_store_errors"], "op", "_total") == \
            {"verdict": 0.0, "settle": 0.0, "answers": 0.0}, host
        assert samples(fams["gatehouse_forward_errors"], None, "_total") == {None: 0.0}, host
    # the counts differ between the hosts, so neither page could pass for the other
    a = samples(scrape(scands["hostA"][1])[0]["gatehouse_messages"], "category", "_total")
    b = samples(scrape(scands["hostB"][1])[0]["gatehouse_messages"], "category", "_total")
    assert (a["clean"], a["virus"], a["banned"]) == (3.0, 1.0, 1.0) and (b["clean"], b["virus"]) == (1.0, 2.0)
