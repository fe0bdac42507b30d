"""quarctl migrate --to postgresql://... (issue 19): a SQLite store of 10,000
messages and its file quarantine copied into a real PostgreSQL 15 (conftest's
postgres / pg_url fixtures).

The source store is made by quarctl opening it (store_open's migrations),
then filled here with sqlite3 and real quarantine files (plain and .gz, some
rows whose SHA-256 is of the .gz file as before schema/009, some copies
already kept in the store as quarantine_backend = database writes them, some
purged or never kept), ids with gaps, every table of the schema written.

Checked: every row of every table is the same in PostgreSQL column by column
(the rows whose copy moved into the store: quar_backend 'database', quar_size
the gzip length, the .gz name, the SHA-256 of the message), every copy in
quar_blobs decompresses to the message of its row's SHA-256; a second run
copies and changes nothing; a run stopped by --max-batches and a run killed
with SIGKILL are continued by the next run to the same end; a damaged, a
missing and a corrupt store copy are each reported by mail id, held back with
their recipients, exit 1, reported again by the next run, and copied once
repaired; a target holding other messages under the same ids or mail ids
stops the run (exit 1) without writing; usage and an unreachable target give
2 and 5.
"""

import gzip
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import zlib

import pytest

import ghtest
import qctest

N = 10000
ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CATS = ["spam", "virus", "banned", "badh", "clean", "spam"]
QDIR = {"spam": "spam", "virus": "virus", "banned": "banned", "badh": "badh", "clean": "archive"}
NOW = 1764672000  # 2025-12-02 UTC

# column lists per table, primary key first (the comparison's sort key)
TABLES = {
    "msgs": "id", "msgrcpt": "id", "events": "id", "outbox": "id", "lists": "id",
    "digest_pref": "target", "digest_sent": "rcpt, period", "report_rrd": "path", "quar_blobs": "msg",
}


def mail_id(i):
    s = ""
    for _ in range(12):
        s += ALPHA[i % 64]
        i //= 64
    return s


def relpath(cat, t, mid, gz):
    d = QDIR[cat]
    tm = time.gmtime(t)
    return "%s/%s/%s-%s-%s%s" % (d, time.strftime("%Y/%m/%d", tm), d, time.strftime("%Y%m%d-%H%M%S", tm), mid,
                                 ".gz" if gz else "")


def message(i):
    body = ("Line %d of a quarantined message, with \\ backslashes and umlauts \u00e4\u00f6\u00fc.\r\n" % i) * (
        5 + i % 40)
    return ("From: sender%d@example.org\r\nTo: user%d@example.com\r\nSubject: Test %d\r\n"
            "Message-ID: <%d@example.org>\r\n\r\n%s" % (i, i % 500, i, i, body)).encode()


def pack(data):
    """gzip as quar_pack() does (zlib, gzip wrapper)."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def make_store(base, n):
    """A SQLite store of n messages and its quarantine under base; returns
    the QStore and {msgs id: plain message} of the kept copies."""
    qs = qctest.QStore(base)
    qs.run("stats", check=True)  # store_open makes the file and migrates it
    os.makedirs(qs.quarantine, exist_ok=True)
    plain = {}
    db = sqlite3.connect(qs.db)
    msgs, rcpts, blobs = [], [], []
    rid = 5
    for i in range(n):
        mid_ = 3 * i + 11  # ids with gaps
        mid = mail_id(7919 * i + 13)
        cat = CATS[i % 6]
        t = NOW - (i * 37) % (30 * 86400)
        state = "quarantined"
        if i % 50 == 1:
            state = "released"
        elif i % 50 == 2:
            state = "purged"
        elif cat == "clean" and i % 4 == 0:
            state = "none"
        backend = "database" if i % 10 == 3 else "files"
        gz = backend == "database" or i % 2 == 0
        path = None if state == "none" else relpath(cat, t, mid, gz)
        data = message(i)
        sha = hashlib.sha256(data).hexdigest()
        size = None
        if path and state != "purged":
            plain[mid_] = data
            if backend == "database":
                blob = pack(data)
                blobs.append((mid_, blob))
                size = len(blob)
            else:
                full = os.path.join(qs.quarantine, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                stored = gzip.compress(data, mtime=0) if gz else data
                with open(full, "wb") as f:
                    f.write(stored)
                size = len(stored)
                if gz and i % 97 == 0:
                    sha = hashlib.sha256(stored).hexdigest()  # a row written before schema/009
        elif path:
            size = len(data)
        score = None if cat not in ("spam", "clean") else 5.0 + i / 7.0
        msgs.append((mid_, mid, t, "192.0.2.%d" % (i % 250), "mx%d.example.net" % (i % 9), "helo%d" % i,
                     "" if i % 23 == 0 else "sender%d@example.org" % i, "Sender <sender%d@example.org>" % i,
                     "Gr\u00fc\u00dfe %d \u2713 'quoted' \\ back" % i, "<%d@example.org>" % i, len(data), cat,
                     "Eicar-Test-Signature" if cat == "virus" else "", "x.exe" if cat == "banned" else "", score,
                     "BAYES_99,URIBL" if score else "", "", path, size, sha if path else None, state, i % 900,
                     "default", "spamd", ["final", "open", "deferred"][i % 3 if i % 7 == 0 else 0],
                     "HDRS" if i % 5 == 0 else "", "env%d" % i if i % 5 == 0 else "", "host%d" % (i % 3), backend))
        for k in range(1 + i % 3):
            rcpts.append((rid, mid_, k, "user%d@example.com" % ((i + k) % 500), "example.com",
                          ["discard", "pass", "bounce", "reject", "tempfail"][(i + k) % 5], "250 2.0.0 Ok",
                          NOW if state == "released" else None, "250 released" if state == "released" else "",
                          "SUCCESS" if k == 0 else "", "rfc822;u@example.com" if k == 1 else "",
                          "block #3" if k == 2 else "", NOW - 5 if i % 31 == 0 else None))
            rid += 2
    db.executemany("INSERT INTO msgs (id, mail_id, time, client_addr, client_name, client_helo, sender, from_hdr, "
                   "subject, message_id, size, category, virus_names, banned_names, spam_score, spam_tests, "
                   "unchecked_reason, quar_path, quar_size, quar_sha256, quar_state, scan_ms, policy, engine, "
                   "attempt, dsn_ret, dsn_envid, host, quar_backend) VALUES (%s)" % ",".join("?" * 29), msgs)
    db.executemany("INSERT INTO msgrcpt (id, msg, rseq, addr, domain, destiny, smtp_answer, released_at, "
                   "release_answer, dsn_notify, dsn_orcpt, list_entry, deleted_at) VALUES (%s)" % ",".join("?" * 13),
                   rcpts)
    db.executemany("INSERT INTO quar_blobs (msg, data) VALUES (?, ?)", blobs)
    db.executemany("INSERT INTO events (id, time, mail_id, action, who, detail, result, host) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(2 * k + 1, NOW + k, mail_id(k), "release", "root", "to u@example.com", "ok", "h1")
                    for k in range(700)])
    db.executemany("INSERT INTO outbox (id, created, mail_id, kind, env_from, rcpt, body, attempts, next_try, "
                   "state, last_error, sent_at, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(k + 100, NOW + k, mail_id(k), "virus-admin", "", "admin@example.com",
                     b"Subject: alert\r\n\r\n\\x00 not an escape \x00\xff\r\n" * (1 + k % 3), k % 4, NOW + 60,
                     ["held", "pending", "sent", "failed", "cancelled"][k % 5], "" if k % 2 else "451 later",
                     NOW + 30 if k % 5 == 2 else None, "h2") for k in range(1200)])
    db.executemany("INSERT INTO lists (id, scope, kind, pattern, pkey, note, created_by, created_at, expires) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(k * 4 + 1, "global" if k % 2 else "example.com", "allow" if k % 3 else "block",
                     "*@spam%d.example" % k, "@spam%d.example" % k, "note %d" % k, "root", NOW, 0 if k % 2 else NOW + 9)
                    for k in range(60)])
    db.executemany("INSERT INTO digest_pref (target, frequency) VALUES (?, ?)",
                   [("user%d@example.com" % k, ["never", "daily", "weekly"][k % 3]) for k in range(40)])
    db.executemany("INSERT INTO digest_sent (rcpt, period, time, outbox_id, items) VALUES (?, ?, ?, ?, ?)",
                   [("user%d@example.com" % (k % 40), "daily:2025-11-%02d" % (1 + k // 40), NOW, k + 100, k % 7)
                    for k in range(1100)])
    db.executemany("INSERT INTO report_rrd (path, last_minute, last_msg_id) VALUES (?, ?, ?)",
                   [("/var/lib/gatehouse/rrd/%d.rrd" % k, NOW - NOW % 60, 3 * k) for k in range(3)])
    db.commit()
    db.close()
    return qs, plain


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(str(tmp_path_factory.mktemp("migrate-src")), N)


def dbname(url):
    return url.rsplit("/", 1)[1]


def migrate(qs, url, *args, timeout=300):
    return subprocess.run([qctest.QUARCTL, "-c", qs.conf, "migrate", "--to", url] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def table_counts(out):
    """{table: (rows, copied, skipped, held)} from the per-table lines."""
    c = {}
    for m in re.finditer(r"^(\w+): (\d+) rows: (\d+) copied, (\d+) skipped, (\d+) held back", out, re.M):
        c[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    return c


def pg_rows(pg, url, table):
    """The rows of table, sorted by primary key, as dicts (bytea as "\\x<hex>")."""
    rows = pg.psql("SELECT row_to_json(t) FROM (SELECT * FROM %s ORDER BY %s) t" % (table, TABLES[table]),
                   dbname(url))
    return [json.loads(r[0]) for r in rows]


def sqlite_rows(qs, table):
    db = sqlite3.connect(qs.db)
    db.row_factory = sqlite3.Row
    out = []
    for r in db.execute("SELECT * FROM %s ORDER BY %s" % (table, TABLES[table])):
        out.append({k: ("\\x" + r[k].hex() if isinstance(r[k], bytes) else r[k]) for k in r.keys()})
    db.close()
    return out


def expected_msgs(qs, plain):
    """The msgs rows as the target keeps them: a file copy moved into the store."""
    rows = sqlite_rows(qs, "msgs")
    for r in rows:
        if r["quar_backend"] == "files" and r["quar_path"] and r["quar_state"] in ("quarantined", "released"):
            data = plain[r["id"]]
            r["quar_backend"] = "database"
            r["quar_sha256"] = hashlib.sha256(data).hexdigest()
            r["quar_path"] += "" if r["quar_path"].endswith(".gz") else ".gz"
            r["quar_size"] = None  # the gzip length: checked against the blob
    return rows


def assert_identical(pg, url, qs, plain, held=()):
    """Every table of the target equals the source, column by column."""
    for table in TABLES:
        if table in ("msgs", "quar_blobs"):
            continue
        want = sqlite_rows(qs, table)
        if table == "msgrcpt":
            want = [r for r in want if r["msg"] not in held]
        got = pg_rows(pg, url, table)
        assert len(got) == len(want), table
        assert got == want, table
    want = [r for r in expected_msgs(qs, plain) if r["id"] not in held]
    got = pg_rows(pg, url, "msgs")
    assert len(got) == len(want)
    blobs = {int(b["msg"]): bytes.fromhex(b["data"][2:]) for b in pg_rows(pg, url, "quar_blobs")}
    src_blobs = {b["msg"]: b["data"] for b in sqlite_rows(qs, "quar_blobs")}
    nblobs = 0
    for g, w in zip(got, want):
        if w["quar_size"] is None and w["quar_backend"] == "database":
            w["quar_size"] = len(blobs[w["id"]])
        assert g == w, w["mail_id"]
        if w["id"] in plain:
            data = gzip.decompress(blobs[w["id"]])
            assert data == plain[w["id"]]
            assert hashlib.sha256(data).hexdigest() == g["quar_sha256"]
            if w["id"] in src_blobs:  # a copy the source store held: the same bytes
                assert "\\x" + blobs[w["id"]].hex() == src_blobs[w["id"]]
            nblobs += 1
    assert nblobs == len(blobs) == len([i for i in plain if i not in held])


def pg_state(pg, url):
    """What a run that writes nothing leaves alone: every row's xmin and the sequences."""
    db = dbname(url)
    s = {t: pg.psql("SELECT xmin::text, %s FROM %s ORDER BY %s" % (TABLES[t], t, TABLES[t]), db) for t in TABLES}
    for t in ("msgs", "msgrcpt", "events", "outbox", "lists"):
        s[t + "_seq"] = pg.psql("SELECT last_value, is_called FROM %s_id_seq" % t, db)
    return s


def test_migrate_10000(postgres, pg_url, store):
    qs, plain = store
    t0 = time.monotonic()
    r = migrate(qs, pg_url)
    took = time.monotonic() - t0
    print("migrate of %d messages: %.1f s" % (N, took))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    c = table_counts(r.stdout)
    assert c["msgs"] == (N, N, 0, 0)
    assert c["msgrcpt"][1] == c["msgrcpt"][0] > N
    assert c["events"] == (700, 700, 0, 0) and c["outbox"] == (1200, 1200, 0, 0)
    assert c["lists"] == (60, 60, 0, 0) and c["digest_pref"] == (40, 40, 0, 0)
    assert c["digest_sent"] == (1100, 1100, 0, 0) and c["report_rrd"] == (3, 3, 0, 0)
    nstore = sum(1 for b in sqlite_rows(qs, "quar_blobs"))
    rehashed = sum(1 for r_ in sqlite_rows(qs, "msgs") if r_["quar_backend"] == "files" and r_["id"] in plain
                   and r_["quar_sha256"] != hashlib.sha256(plain[r_["id"]]).hexdigest())
    assert rehashed > 0
    m = re.search(r"^migrate: complete; .*quarantine copies: (\d+) verified \((\d+) from files, (\d+) from the "
                  r"store, (\d+) rehashed\), 0 mismatched, 0 missing$", r.stdout, re.M)
    assert m, r.stdout
    assert [int(x) for x in m.groups()] == [len(plain), len(plain) - nstore, nstore, rehashed]
    assert took < 60
    assert_identical(postgres, pg_url, qs, plain)

    # a second complete run copies nothing and changes nothing
    before = pg_state(postgres, pg_url)
    r2 = migrate(qs, pg_url)
    assert r2.returncode == 0, r2.stderr
    c2 = table_counts(r2.stdout)
    assert all(v[1] == 0 and v[2] == v[0] for v in c2.values()), c2
    assert "0 verified" in r2.stdout
    assert pg_state(postgres, pg_url) == before

    # the sequences are past the copied ids: a new row gets the next id
    db = dbname(pg_url)
    maxid = int(postgres.psql("SELECT max(id) FROM msgs", db)[0][0])
    new = postgres.psql("INSERT INTO msgs (mail_id, time, sender, size, category) "
                        "VALUES ('ZZZZZZZZZZZZ', 1, '', 1, 'clean') RETURNING id", db)
    assert int(new[0][0]) == maxid + 1


def test_migrate_resume(postgres, pg_url, store):
    qs, plain = store
    db = dbname(pg_url)
    # stopped cleanly after 4 transactions of 700 rows
    r = migrate(qs, pg_url, "--batch", "700", "--max-batches", "4")
    assert r.returncode == 0, r.stderr
    assert "migrate: stopped after 4 batches" in r.stdout
    assert int(postgres.psql("SELECT count(*) FROM msgs", db)[0][0]) == 2800
    assert int(postgres.psql("SELECT count(*) FROM msgrcpt", db)[0][0]) == 0

    # killed in the middle of a run
    p = subprocess.Popen([qctest.QUARCTL, "-c", qs.conf, "migrate", "--to", pg_url, "--batch", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    ghtest.wait_for(lambda: int(postgres.psql("SELECT count(*) FROM msgs", db)[0][0]) >= 3500, timeout=60,
                    step=0.02, what="the killed run's first batches")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    killed_at = int(postgres.psql("SELECT count(*) FROM msgs", db)[0][0])
    assert 3500 <= killed_at < N

    r = migrate(qs, pg_url)
    assert r.returncode == 0, r.stderr
    c = table_counts(r.stdout)
    assert c["msgs"][0] == N and c["msgs"][2] >= killed_at and c["msgs"][1] + c["msgs"][2] == N
    assert "migrate: complete" in r.stdout
    assert_identical(postgres, pg_url, qs, plain)


def test_migrate_problems(postgres, pg_url, tmp_path):
    qs, plain = make_store(str(tmp_path / "src"), 60)
    rows = {r["mail_id"]: r for r in sqlite_rows(qs, "msgs")}
    files = [r for r in rows.values() if r["quar_backend"] == "files" and r["id"] in plain]
    damaged, gone = files[1], files[2]
    with open(os.path.join(qs.quarantine, damaged["quar_path"]), "r+b") as f:
        raw = bytearray(f.read())
        raw[len(raw) // 2] ^= 0x01
        f.seek(0)
        f.write(raw)
    gone_path = os.path.join(qs.quarantine, gone["quar_path"])
    os.rename(gone_path, gone_path + ".away")
    bad_blob = [r for r in rows.values() if r["quar_backend"] == "database" and r["id"] in plain][0]
    db = sqlite3.connect(qs.db)
    db.execute("UPDATE quar_blobs SET data = ? WHERE msg = ?", (pack(b"something else"), bad_blob["id"]))
    db.commit()
    db.close()
    held = {damaged["id"], gone["id"], bad_blob["id"]}

    for _ in range(2):  # reported again by the next run, never copied silently
        r = migrate(qs, pg_url)
        assert r.returncode == 1, r.stdout + r.stderr
        for m in (damaged, gone, bad_blob):
            assert re.search(r"^quarctl: migrate: %s: .*\(not copied\)$" % re.escape(m["mail_id"]), r.stderr, re.M)
        assert "SHA-256 mismatch" in r.stderr
        assert re.search(r"^migrate: complete; .* 2 mismatched, 1 missing$", r.stdout, re.M), r.stdout
        c = table_counts(r.stdout)
        assert c["msgs"][3] == 3
        assert c["msgrcpt"][3] == sum(1 for x in sqlite_rows(qs, "msgrcpt") if x["msg"] in held)
        assert int(postgres.psql("SELECT count(*) FROM msgs WHERE id IN (%d, %d, %d)" % tuple(held),
                                 dbname(pg_url))[0][0]) == 0
    assert_identical(postgres, pg_url, qs, plain, held=held)

    # the missing file comes back: the next run copies it and its recipients
    os.rename(gone_path + ".away", gone_path)
    r = migrate(qs, pg_url)
    assert r.returncode == 1
    assert gone["mail_id"] not in r.stderr
    c = table_counts(r.stdout)
    assert c["msgs"][1] == 1 and c["msgs"][3] == 2
    assert c["msgrcpt"][1] == sum(1 for x in sqlite_rows(qs, "msgrcpt") if x["msg"] == gone["id"])
    assert_identical(postgres, pg_url, qs, plain, held=held - {gone["id"]})


def test_migrate_usage(postgres, tmp_path):
    qs = qctest.QStore(str(tmp_path / "u"))
    qs.run("stats", check=True)
    r = subprocess.run([qctest.QUARCTL, "-c", qs.conf, "migrate"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 2 and "--to" in r.stderr
    assert migrate(qs, "mysql://x@127.0.0.1/db").returncode == 2
    assert migrate(qs, postgres.url("postgres"), "--batch", "0").returncode == 2
    r = migrate(qs, "postgresql://gatehouse@127.0.0.1:%d/x" % ghtest.free_port())
    assert r.returncode == 5 and "target" in r.stderr


def test_migrate_refuses_other_data(postgres, pg_url, tmp_path):
    """A target that holds other messages under the copied ids (or the
    copied mail ids under other ids) is not a copy of this store: the run
    stops with exit 1 and says which, and writes nothing of that batch."""
    qs, plain = make_store(str(tmp_path / "src"), 20)
    db = dbname(pg_url)
    r = migrate(qs, pg_url)
    assert r.returncode == 0, r.stderr
    rows = postgres.psql("SELECT id, mail_id FROM msgs ORDER BY id", db)
    ids = [int(x[0]) for x in rows]
    postgres.psql("UPDATE msgs SET mail_id = 'ZZZZZZZZZZZZ' WHERE id = %d" % ids[3], db)
    r = migrate(qs, pg_url)
    assert r.returncode == 1
    assert re.search(r"msgs id %d: the target holds mail id ZZZZZZZZZZZZ, the source \S+: not a copy" % ids[3],
                     r.stderr), r.stderr
    assert "migrate: failed" in r.stdout

    # the mail id under another id: the row is gone by id, its mail id is not
    postgres.psql("UPDATE msgs SET mail_id = '%s' WHERE id = %d" % (rows[3][1], ids[3]), db)
    moved = postgres.psql("DELETE FROM msgs WHERE id = %d RETURNING mail_id" % ids[5], db)[0][0]
    postgres.psql("INSERT INTO msgs (id, mail_id, time, sender, size, category) "
                  "VALUES (999999, '%s', 1, '', 1, 'clean')" % moved, db)
    before = postgres.psql("SELECT count(*) FROM msgs", db)
    r = migrate(qs, pg_url)
    assert r.returncode == 1
    assert re.search(r"msgs id %d \(\S+\): the target holds this mail id under another id" % ids[5], r.stderr), \
        r.stderr
    assert postgres.psql("SELECT count(*) FROM msgs", db) == before
