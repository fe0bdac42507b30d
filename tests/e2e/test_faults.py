"""Fault injection, end to end with real Postfix: whatever breaks, every
message submitted ends in exactly one place (delivered once, or in
Postfix's queue to be retried), and scand never answers 250 for a message
it has not recorded.

  store locked    another process holds the SQLite write lock longer than
                  [scand] busy_timeout: scand waits that long, answers 451,
                  Postfix keeps the mail; once the lock goes, a flush
                  delivers it once with its row.
  SIGKILL         scand killed at random moments while 200 messages flow
                  (in DATA, scanning, committing, forwarding), restarted
                  each time: every message is delivered, with a pass row;
                  a duplicate is possible only for a message whose
                  downstream 250 came just before the kill (the SMTP
                  "lost 250" window): at most the messages in flight.
"""

import os
import random
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import ghtest
from test_postfix_flow import count_message_id, wire

# Holds the database's write lock until told to let go (a line on stdin).
LOCKER = r"""
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
db.execute("CREATE TABLE IF NOT EXISTS gh_lock_probe (x)")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
print("released", flush=True)
"""


class StoreLock:
    """A separate process holding the write lock of db."""

    def __init__(self, db):
        self.p = subprocess.Popen([sys.executable, "-c", LOCKER, db], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "locked"

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("\n")
            self.p.stdin.flush()
            assert self.p.stdout.readline().strip() == "released"
            self.p.wait(10)


def rows_for(db, mid):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT r.destiny, r.smtp_answer FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                           "WHERE m.message_id = ?", (mid,)).fetchall()
    finally:
        con.close()


def test_store_locked_waits_busy_timeout_then_451_and_recovers(postfix_factory, scand_factory):
    pf, sd = wire("smtp", postfix_factory, scand_factory, sections={"scand": {"busy_timeout": "2"}})
    # one message first, so that the store is open and migrated
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id="<warm@gh-test>"))
    pf.wait_delivered(1)
    lock = StoreLock(sd.db)
    try:
        # straight to scand: the answer, and how long it took
        direct = "<locked-direct@gh-test>"
        t0 = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError) as e:
            with smtplib.SMTP("127.0.0.1", sd.port, timeout=60) as s:
                s.sendmail("alice@example.org", ["carol@example.com"], ghtest.make_message(message_id=direct))
        waited = time.monotonic() - t0
        assert e.value.smtp_code == 451, e.value
        assert waited >= 1.8, "answered after %.2f s, before busy_timeout (2 s)" % waited
        # through Postfix: deferred, kept in the queue, not delivered
        mid = "<locked@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id=mid))
        ghtest.wait_for(lambda: "verdict store failure" in pf.log(), timeout=30, what="scand's 451 in the maillog")
        assert pf.queue_ids(), pf.log()[-2000:]
        assert count_message_id(pf, mid) == 0
    finally:
        lock.release()
    # no 250 was given, and no row claims a pass
    assert not [r for r in rows_for(sd.db, direct) if r[0] == "pass"]
    pf.flush()
    ghtest.wait_for(lambda: count_message_id(pf, mid) == 1 and not pf.queue_ids(), timeout=30,
                    what="the deferred message delivered after the lock went")
    passed = [r for r in rows_for(sd.db, mid) if r[0] == "pass"]
    assert len(passed) == 1 and passed[0][1].startswith("250"), rows_for(sd.db, mid)
    assert count_message_id(pf, mid) == 1


def delivered_mids(pf):
    """Message-ID -> number of delivered copies."""
    seen = {}
    for f in pf.delivered():
        with open(f, "rb") as fh:
            for line in fh:
                if line.lower().startswith(b"message-id:"):
                    mid = line.split(b":", 1)[1].strip().decode()
                    seen[mid] = seen.get(mid, 0) + 1
                    break
                if line in (b"\n", b"\r\n"):
                    break
    return seen


def test_sigkill_at_random_points_of_200_messages(postfix_factory, scand_factory):
    seed = int(os.environ.get("GH_KILL_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("GH_KILL_SEED=%d" % seed)
    pf, sd = wire("smtp", postfix_factory, scand_factory)
    mids = ["<kill-%03d@gh-test>" % i for i in range(200)]
    # sizes from 1 KB to 300 KB so that kills land in DATA, scans and forwarding
    bodies = [("line %d of a message to be killed\r\n" % i) * rnd.choice((30, 300, 3000, 9000)) for i in range(200)]

    def submit():
        with smtplib.SMTP("127.0.0.1", pf.smtpd_port, timeout=120) as s:
            for mid, body in zip(mids, bodies):
                s.sendmail("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id=mid, body=body))

    t = threading.Thread(target=submit)
    t.start()
    kills = 0
    while t.is_alive() or (kills < 6 and len(delivered_mids(pf)) < len(mids)):
        time.sleep(rnd.uniform(0.2, 1.2))
        sd.kill()
        kills += 1
        time.sleep(rnd.uniform(0.0, 0.5))
        sd.start()
        if kills >= 6:
            break
    t.join()
    pf.flush()
    ghtest.wait_for(lambda: len(delivered_mids(pf)) >= len(mids) and not pf.queue_ids(), timeout=180, step=0.5,
                    what="all 200 messages delivered after %d kills (seed %d)" % (kills, seed))
    got = delivered_mids(pf)
    assert set(got) == set(mids), "lost: %s" % sorted(set(mids) - set(got))
    dups = {m: n for m, n in got.items() if n > 1}
    print("%d kills, %d duplicates: %s" % (kills, len(dups), dups))
    assert sum(n - 1 for n in dups.values()) <= 4 * kills, dups  # at most maxproc in flight per kill
    con = sqlite3.connect(sd.db, timeout=30)
    passed = {r[0] for r in con.execute("SELECT DISTINCT m.message_id FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                                         "WHERE r.destiny = 'pass'")}
    con.close()
    assert set(mids) <= passed, "delivered without a pass row: %s" % sorted(set(mids) - passed)[:5]
    assert os.listdir(sd.work) == []
