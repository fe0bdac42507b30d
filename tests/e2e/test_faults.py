"""Fault injection, end to end with real Postfix: whatever breaks, every
message submitted ends in exactly one place (delivered once, or in
Postfix's queue to be retried), and scand never answers 250 for a message
it has not recorded.

  store locked    another process holds the SQLite write lock longer than
                  [scand] busy_timeout: scand waits that long, answers 451,
                  Postfix keeps the mail; once the lock goes, a flush
                  delivers it once with its row.
  downstream 4xx  the reinjection smtpd defers every recipient (450), then
                  comes back (restarted): 451 meanwhile, delivered once
                  afterwards.
  work dir full   scand's work_dir (spool for large messages) on a full
                  tmpfs: 451 "local spool failure", delivered once space
                  returns; small messages (kept in memory) still pass.
  quarantine full the quarantine tree on a full tmpfs: an infected message
                  gets 451 (it cannot be kept), clean mail still passes;
                  when space returns it is quarantined with its row.
  clamav tmp full libclamav's temp_dir on a full tmpfs (it unpacks archive
                  members there): a zipped EICAR gets 451, not UNCHECKED
                  and passed; once space returns the retry is INFECTED,
                  quarantined and not delivered.
  spamd killed    spamd dies while scand waits for its answer, with
                  [spam] on_failure = tempfail: 451, and the message is
                  checked and delivered once spamd is back.
  corrupt sigs    a malformed .ndb/.hdb in a signature directory, then
                  SIGHUP: scand logs why and keeps its engine (EICAR still
                  caught, nothing refused); a good file and SIGHUP load.
  SIGKILL         scand killed at random moments while 200 messages flow
                  (in DATA, scanning, committing, forwarding), restarted
                  each time: every message is delivered, with a pass row;
                  a duplicate is possible only for a message whose
                  downstream 250 came just before the kill (the SMTP
                  "lost 250" window): at most the messages in flight.
"""

import base64
import io
import os
import random
import signal
import smtplib
import subprocess
import sys
import threading
import time
import zipfile

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


class Tmpfs:
    """A small tmpfs mounted over path (root only) that can be filled up."""

    def __init__(self, path, size="256k"):
        self.path = path
        os.makedirs(path, exist_ok=True)
        ghtest.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path])
        self.filler = os.path.join(path, ".filler")

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        assert os.statvfs(self.path).f_bavail == 0, "tmpfs %s not full" % self.path

    def free(self):
        os.unlink(self.filler)

    def umount(self):
        ghtest.run(["umount", "-l", self.path], check=False)


def space_returns(fs, pf):
    """Frees fs and has Postfix retry now: its queue must empty."""
    fs.free()
    pf.flush()
    ghtest.wait_for(lambda: not pf.queue_ids(), timeout=30, what="the queue to empty after space returned")


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
    return ghtest.db_rows(db, "SELECT r.destiny, r.smtp_answer FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                          "WHERE m.message_id = ?", mid)


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
    # the recipients' answers are written behind the reply (answers.h): wait for them
    ghtest.wait_for(lambda: [r for r in rows_for(sd.db, mid) if r[0] == "pass" and r[1].startswith("250")],
                    timeout=10, what="the pass row's 250 answer")
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
    passed = {r[0] for r in ghtest.db_rows(sd.db, "SELECT DISTINCT m.message_id FROM msgs m JOIN msgrcpt r "
                                             "ON r.msg = m.id WHERE r.destiny = 'pass'")}
    assert set(mids) <= passed, "delivered without a pass row: %s" % sorted(set(mids) - passed)[:5]
    assert os.listdir(sd.work) == []


def test_downstream_deferring_then_back(postfix_factory, scand_factory):
    pf, sd = wire("smtp", postfix_factory, scand_factory)
    pf.postconf("-P", "127.0.0.1:%d/inet/smtpd_relay_restrictions=defer" % pf.reinject_port)
    pf.reload()
    mid = "<deferred@gh-test>"
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id=mid))
    ghtest.wait_for(lambda: "451 4.3.0" in pf.log(), timeout=30, what="scand's 451 in the maillog")
    assert pf.queue_ids() and count_message_id(pf, mid) == 0
    # the row is committed as "pass" before forwarding; "tempfail" is written
    # behind the 451 (answers.h), so it may land just after Postfix logs it
    ghtest.wait_for(lambda: [r[0] for r in rows_for(sd.db, mid)] == ["tempfail"], timeout=10,
                    what="the row's tempfail answer")
    assert [r[0] for r in rows_for(sd.db, mid)] == ["tempfail"]
    # The downstream comes back: config without the restriction, and a
    # restart (a reload would leave scand's kept connection with the old
    # smtpd process, still deferring, until that session ends).
    pf.stop()
    pf._write_config()
    pf.start()
    pf.flush()
    ghtest.wait_for(lambda: count_message_id(pf, mid) == 1 and not pf.queue_ids(), timeout=30,
                    what="delivery once the downstream accepts again")
    destinies = [r[0] for r in rows_for(sd.db, mid)]  # one row per attempt; Postfix may have retried
    assert destinies.count("pass") == 1 and set(destinies) == {"pass", "tempfail"}, destinies


def test_work_dir_full_451_then_recovers(postfix_factory, scand_factory):
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
    sd = scand_factory(reinject, port=sport, start=False, sections={"scand": {"spool_memory_limit": "16k"}})
    fs = Tmpfs(sd.work)
    try:
        sd.start()
        fs.fill()
        big = "<big-workfull@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"],
                ghtest.make_message(message_id=big, body="a line of a large message\r\n" * 4000))
        ghtest.wait_for(lambda: "local spool failure" in pf.log(), timeout=30, what="scand's 451 in the maillog")
        assert pf.queue_ids() and count_message_id(pf, big) == 0
        small = "<small-workfull@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id=small))
        ghtest.wait_for(lambda: count_message_id(pf, small) == 1, timeout=30,
                        what="a small message delivered while work_dir is full")
        fs.free()
        pf.flush()
        ghtest.wait_for(lambda: count_message_id(pf, big) == 1 and not pf.queue_ids(), timeout=30,
                        what="the large message delivered once space returned")
        assert [r[0] for r in rows_for(sd.db, big)] == ["pass"]
    finally:
        sd.stop()
        fs.umount()


def eicar():
    """The EICAR test file, from two halves so that this file is not a hit."""
    return "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def eicar_message(mid):
    return ghtest.make_message(subject="eicar", message_id=mid, body=eicar() + "\r\n")


def test_quarantine_full_451_then_recovers(postfix_factory, scand_factory, workdir):
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
    sd = scand_factory(reinject, port=sport, start=False)
    fs = Tmpfs(sd.quarantine)  # mode 0755 root: scand runs as root in the tests (allow_root)
    try:
        sd.start()
        fs.fill()
        mid = "<quarfull@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"], eicar_message(mid))
        ghtest.wait_for(lambda: "451" in pf.log(), timeout=30, what="scand's 451 in the maillog")
        assert pf.queue_ids(), pf.log()[-2000:]
        # clean mail needs no quarantine: it still goes through
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id="<clean-full@gh-test>"))
        ghtest.wait_for(lambda: count_message_id(pf, "<clean-full@gh-test>") == 1, timeout=30,
                        what="clean mail delivered while the quarantine is full")
        assert not [r for r in rows_for(sd.db, mid) if r[0] != "tempfail"]
        space_returns(fs, pf)
        rows = ghtest.db_rows(sd.db, "SELECT quar_path, category FROM msgs WHERE message_id = ? "
                              "AND quar_path IS NOT NULL", mid)
        assert len(rows) == 1 and rows[0][1] == "virus", rows
        assert os.path.isfile(os.path.join(sd.quarantine, rows[0][0]))
        assert count_message_id(pf, mid) == 0  # discarded for the recipient, kept in the quarantine
    finally:
        sd.stop()
        fs.umount()


def zipped_eicar_message(mid):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("docs/readme.txt", eicar())
    b64 = base64.encodebytes(buf.getvalue()).decode().replace("\n", "\r\n")
    body = ("--ZB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--ZB\r\n"
            "Content-Type: application/zip; name=\"docs.zip\"\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"docs.zip\"\r\n\r\n" + b64 + "--ZB--\r\n")
    return ghtest.make_message(subject="zipped eicar", message_id=mid, body=body,
                               extra_headers=["MIME-Version: 1.0",
                                              "Content-Type: multipart/mixed; boundary=\"ZB\""])


def test_clamav_temp_dir_full_451_then_blocked(postfix_factory, scand_factory, workdir):
    """A scanner that cannot write its temporary files has not checked the
    mail: that is our failure, answered 451, never UNCHECKED (which
    unchecked_destiny = pass would deliver)."""
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
    tmp = os.path.join(workdir, "clamtmp")
    sd = scand_factory(reinject, port=sport, start=False, sections={"clamav": {"temp_dir": tmp}})
    fs = Tmpfs(tmp)
    try:
        sd.start()
        fs.fill()
        mid = "<clamtmp-full@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"], zipped_eicar_message(mid))
        ghtest.wait_for(lambda: rows_for(sd.db, mid) or "451" in pf.log(), timeout=30,
                        what="scand's answer to the zipped EICAR")
        time.sleep(0.5)
        assert count_message_id(pf, mid) == 0, "delivered while the scanner could not unpack it: %s" % sd.log()[-1500:]
        assert [r[0] for r in rows_for(sd.db, mid)] in ([], ["tempfail"]), rows_for(sd.db, mid)
        assert pf.queue_ids(), pf.log()[-2000:]
        assert "451" in pf.log(), pf.log()[-2000:]
        space_returns(fs, pf)
        rows = ghtest.db_rows(sd.db, "SELECT category, virus_names, quar_path FROM msgs WHERE message_id = ? "
                              "AND category != 'unchecked'", mid)
        assert len(rows) == 1 and rows[0][0] == "virus" and rows[0][2], rows
        assert os.path.isfile(os.path.join(sd.quarantine, rows[0][2]))
        assert count_message_id(pf, mid) == 0  # blocked for the recipient, kept in the quarantine
    finally:
        sd.stop()
        fs.umount()


def spamd_pids(sp):
    pid = ghtest._read_pid(sp.pidfile)
    kids = [int(d) for d in os.listdir("/proc") if d.isdigit() and _ppid(int(d)) == pid]
    return [pid] + kids


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        return int(data[data.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def test_spamd_killed_mid_check_451_then_delivered(postfix_factory, scand_factory, workdir):
    sp = ghtest.Spamd(os.path.join(workdir, "spamd")).start()
    pids = spamd_pids(sp)
    try:
        reinject, sport = ghtest.free_port(), ghtest.free_port()
        pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
        sd = scand_factory(reinject, port=sport, sections={
            "spam": {"enabled": "yes", "spamd": "127.0.0.1:%d" % sp.port, "on_failure": "tempfail",
                     "timeout": "20"}})
        for p in pids:  # spamd freezes: scand's request waits in the socket
            os.kill(p, signal.SIGSTOP)
        mid = "<spamdkill@gh-test>"
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id=mid))
        ghtest.wait_for(lambda: _connected(sp.port), timeout=20, what="scand connected to spamd")
        time.sleep(0.5)
        for p in pids:  # and dies mid-check
            os.kill(p, signal.SIGKILL)
        ghtest.wait_for(lambda: "451" in pf.log(), timeout=30, what="scand's 451 in the maillog")
        assert pf.queue_ids() and count_message_id(pf, mid) == 0
        sp = ghtest.Spamd(os.path.join(workdir, "spamd2"), port=sp.port).start()
        pf.flush()
        ghtest.wait_for(lambda: count_message_id(pf, mid) == 1 and not pf.queue_ids(), timeout=60,
                        what="delivery once spamd is back")
        scores = ghtest.db_rows(sd.db, "SELECT m.spam_score FROM msgs m JOIN msgrcpt r ON r.msg = m.id "
                                "WHERE m.message_id = ? AND r.destiny = 'pass'", mid)
        assert len(scores) == 1 and scores[0][0] is not None, scores  # passed only once checked
    finally:
        for p in pids:  # never leave a stopped spamd behind
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sp.stop()


def _connected(port):
    """True when a client holds a connection to 127.0.0.1:port open: state
    ESTABLISHED, or FIN_WAIT1/2 (scand half-closes after its request)."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2].endswith(want) and fields[3] in ("01", "04", "05"):
                return True
    return False


def _ndb_marker(name, text):
    return "%s:0:*:%s\n" % (name, text.encode().hex())


@pytest.mark.parametrize("bad", [("broken.ndb", "Broken-Sig:0:*:zz-not-hex\n"),
                                 ("broken.hdb", "not-a-hash:notanumber\n")])
def test_corrupt_signature_file_on_reload_keeps_old_engine(postfix_factory, scand_factory, workdir, bad):
    """A corrupt .ndb/.hdb in a signature directory, then SIGHUP: scand logs
    why and keeps the engine it has (EICAR still caught, nothing refused);
    once the file is replaced by a good one, the next SIGHUP loads it."""
    sigdir = os.path.join(workdir, "sigs")
    os.makedirs(sigdir)
    dirs = "%s:%s" % (sigdir, os.path.join(ghtest.ROOT, "signatures"))
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
    sd = scand_factory(reinject, port=sport, start=False,
                       sections={"clamav": {"database_dirs": dirs, "reload_check_interval": "0"}})
    sd.start()
    try:
        ghtest.wait_for(lambda: "clamav: engine loaded" in sd.log(), timeout=30, what="first engine")
        name, text = bad
        with open(os.path.join(sigdir, name), "w") as f:
            f.write(text)
        sd.signal(signal.SIGHUP)
        ghtest.wait_for(lambda: "keeping the old engine" in sd.log(), timeout=60,
                        what="the failed reload logged:\n" + sd.log()[-2000:])
        why = [ln for ln in sd.log().splitlines() if "keeping the old engine" in ln]
        assert sigdir in why[0] and "Malformed database" in why[0], why
        assert sd.proc.poll() is None
        assert sd.log().count("clamav: engine loaded") == 1

        mid = "<corrupt-%s@gh-test>" % name
        pf.send("alice@example.org", ["bob@example.com"], eicar_message(mid))
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(message_id="<clean-%s@gh-test>" % name))
        ghtest.wait_for(lambda: count_message_id(pf, "<clean-%s@gh-test>" % name) == 1, timeout=30,
                        what="clean mail delivered")
        ghtest.wait_for(lambda: [r for r in rows_for(sd.db, mid) if r[0] != "tempfail"], timeout=30,
                        what="the EICAR verdict row")
        cats = ghtest.db_rows(sd.db, "SELECT category FROM msgs WHERE message_id = ?", mid)
        assert cats == [("virus",)]
        assert count_message_id(pf, mid) == 0
        # the row is committed before scand answers: Postfix empties its
        # queue a moment later
        ghtest.wait_for(lambda: not pf.queue_ids(), timeout=30, what="Postfix's queue empty")
        assert " 4.7." not in pf.log() and "status=bounced" not in pf.log()

        os.unlink(os.path.join(sigdir, name))
        with open(os.path.join(sigdir, "good.ndb"), "w") as f:
            f.write(_ndb_marker("Gatehouse-Good-After-Corrupt", "gatehouse-after-corrupt"))
        sd.signal(signal.SIGHUP)
        ghtest.wait_for(lambda: sd.log().count("clamav: engine loaded") == 2, timeout=60,
                        what="the good reload:\n" + sd.log()[-2000:])
        raw = ghtest.make_message(subject="marker", message_id="<marker-%s@gh-test>" % name,
                                  body="gatehouse-after-corrupt\r\n")
        pf.send("alice@example.org", ["bob@example.com"], raw)
        ghtest.wait_for(lambda: [r for r in rows_for(sd.db, "<marker-%s@gh-test>" % name) if r[0] != "tempfail"],
                        timeout=30, what="marker verdict")
        got = ghtest.db_rows(sd.db, "SELECT category, virus_names FROM msgs WHERE message_id = ?",
                             "<marker-%s@gh-test>" % name)
        assert len(got) == 1 and got[0][0] == "virus" and "Gatehouse-Good-After-Corrupt" in got[0][1], got
    finally:
        sd.stop()
