"""Fault injection, end to end with real Postfix: whatever breaks, every
message submitted ends in exactly one place (delivered once, or in
Postfix's queue to be retried), and scand never answers 250 for a message
it has not recorded.

  store locked    another process holds the SQLite write lock longer than
                  [scand] busy_timeout: scand waits that long, answers 451,
                  Postfix keeps the mail; once the lock goes, a flush
                  delivers it once with its row.
"""

import smtplib
import sqlite3
import subprocess
import sys
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
