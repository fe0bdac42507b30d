"""Attempts and notices, end to end.

  deferred attempts  real Postfix -> scand -> a scripted downstream that
                     defers the passed recipient twice, then accepts; one
                     recipient's policy discards and quarantines the virus,
                     the other's passes it. Afterwards: one live quarantine
                     file, one set of alerts, three rows (deferred,
                     deferred, final), and quarctl refuses to release a
                     deferred attempt.
  failure notice     the SMTP mixed-result notice to the sender goes
                     through notify's durable outbox: a downstream that
                     defers it at first gets it once it accepts.
  killed open        scand killed between the commit and the answer: the
                     restarted scand makes the open attempt deferred and
                     cancels its held alerts; the retry sends them once.
  partial release    a release that reached only some recipients leaves
                     the message resumable: a second `quarctl release ID`
                     (no --force) serves the rest and no one twice.
"""

import glob
import os
import smtplib
import time

import ghtest
import smtpsink
from qctest import QStore
from test_engines import EICAR

ADMIN = "virus-admin@example.net"


def quarantine_files(root):
    return sorted(p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True)
                  if os.path.isfile(p) and not os.path.basename(p).startswith("."))


def attempt_rows(db, mid):
    return ghtest.db_rows(db, "SELECT mail_id, attempt, quar_state, quar_path FROM msgs WHERE message_id = ? "
                          "ORDER BY id", mid)


def virus_pair(workdir, postfix_factory, scand_factory, down, alerts):
    """Postfix (after-queue) -> scand -> down, alerts to alerts; bob is not
    virus-checked (he passes), carol's virus is discarded and quarantined."""
    lookup = os.path.join(workdir, "policy.lookup")
    with open(lookup, "w") as f:
        f.write("bob@example.com:clam=no\n:clam=yes\n")
    sport = ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport)
    sd = scand_factory(down.port, port=sport, sections={
        "policy": {"lookup_file": lookup},
        "notify": {"forward": "127.0.0.1:%d" % alerts.port, "virus_admin": ADMIN, "retry_min": "1s"}})
    return pf, sd


def test_deferred_twice_then_accepted_one_copy_one_set_of_alerts(workdir, postfix_factory, scand_factory):
    down, alerts = smtpsink.Sink(), smtpsink.Sink()
    offered = []

    def bob_reply(addr):  # the passed recipient: deferred twice, then accepted
        if addr == "bob@example.com":
            offered.append(addr)
            if len(offered) <= 2:
                return "450 4.2.0 mailbox busy, try later"
        return None

    down.rcpt_reply = bob_reply
    try:
        pf, sd = virus_pair(workdir, postfix_factory, scand_factory, down, alerts)
        mid = "<deferred-twice@gh-test>"
        pf.send("alice@example.org", ["bob@example.com", "carol@example.com"],
                ghtest.make_message(subject="eicar twice deferred", message_id=mid, body=EICAR.decode() + "\r\n"))

        def done():
            pf.flush()
            return len(down.messages()) == 1 and not pf.queue_ids()

        ghtest.wait_for(done, timeout=90, step=1, what="delivery after two deferrals (scand log:\n%s)"
                        % sd.log()[-3000:])
        assert len(offered) == 3 and down.messages()[0].rcpts == ["bob@example.com"]
        ghtest.wait_for(lambda: len(alerts.messages()) >= 2, timeout=30, what="the two alerts")
        time.sleep(3)  # let every alert that would ever go out go out (retry_min 1s)

        files = quarantine_files(sd.quarantine)
        assert len(files) == 1, files
        sent = sorted(tuple(t.rcpts) for t in alerts.messages())
        assert sent == sorted([(ADMIN,), ("carol@example.com",)]), sent

        rows = attempt_rows(sd.db, mid)
        assert [r[1] for r in rows] == ["deferred", "deferred", "final"], rows
        assert [r[2] for r in rows] == ["purged", "purged", "quarantined"], rows
        assert os.path.join(sd.quarantine, rows[2][3]) == files[0]
        states = ghtest.db_rows(sd.db, "SELECT mail_id, state FROM outbox ORDER BY id")
        assert sorted(s for m, s in states if m == rows[2][0]) == ["sent", "sent"], states
        assert sorted(s for m, s in states if m != rows[2][0]) == ["cancelled"] * 4, states

        qs = QStore(os.path.join(workdir, "qc"), scand=sd)
        for deferred in (rows[0][0], rows[1][0]):
            r = qs.run("release", deferred)
            assert r.returncode == 1 and b"deferred attempt" in r.stderr, r.stderr
        listed = [x["mail_id"] for x in qs.json("list")]
        assert listed == [rows[2][0]], listed
        assert len(down.messages()) == 1  # nothing re-delivered
    finally:
        down.close()
        alerts.close()


def test_failure_notice_goes_through_the_outbox(scand_factory):
    """Rule 3 (some accepted, others refused for good): the notice to the
    sender is queued in the outbox with the verdict, so a downstream that
    defers it at first still gets it, once."""
    sink = smtpsink.Sink()
    tries = []

    def reply(addr):
        if addr == "gone@example.com":
            return "550 5.1.1 no such user"
        if addr == "alice@example.org":  # the notice's recipient
            tries.append(addr)
            if len(tries) == 1:
                return "451 4.3.0 not now"
        return None

    sink.rcpt_reply = reply
    try:
        sd = scand_factory(sink.port, sections={"notify": {"retry_min": "1s", "retry_max": "1s"}})
        with smtplib.SMTP("127.0.0.1", sd.port, timeout=30) as s:
            refused = s.sendmail("alice@example.org", ["ok@example.com", "gone@example.com"],
                                 ghtest.make_message(message_id="<notice@gh-test>"))
        assert refused == {}

        def notices():
            return [t for t in sink.messages() if t.mail.startswith("MAIL FROM:<>")]

        ghtest.wait_for(lambda: notices(), timeout=20, what="the failure notice (scand log:\n%s)"
                        % sd.log()[-2000:])
        n = notices()
        assert len(n) == 1 and n[0].rcpts == ["alice@example.org"]
        assert b"<gone@example.com>: 550 5.1.1 no such user" in n[0].data
        # the sink keeps the message before its 250; the row is marked sent
        # after that answer (and QUIT), so it may still be pending now
        want = [("failure-notice", "alice@example.org", "sent", 2)]
        outbox = lambda: ghtest.db_rows(sd.db, "SELECT kind, rcpt, state, attempts FROM outbox")
        ghtest.wait_for(lambda: outbox() == want, timeout=20, what="the notice's row marked sent")
        rows = outbox()
        assert rows == want, rows
    finally:
        sink.close()


def test_partial_release_resumes_without_force(workdir):
    sink = smtpsink.Sink()
    sink.rcpt_reply = ghtest.refuse_once("w@example.com", "450 4.2.0 mailbox busy")
    try:
        qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
        mid = qs.add("virus", ghtest.make_message(subject="partial"), rcpts=("u@example.com", "w@example.com"),
                     virus="Eicar-Test-Signature")
        r = qs.run("release", mid)
        assert r.returncode == 1 and b"some recipients refused" in r.stdout + r.stderr, r.stderr
        assert [t.rcpts for t in sink.messages()] == [["u@example.com"]]
        row = qs.row(mid)
        assert row["state"] == "quarantined", row  # not done: resumable
        assert [x["released_at"] > 0 for x in row["rcpts"]] == [True, False]

        r = qs.run("release", mid)  # no --force: finishes the rest
        assert r.returncode == 0, r.stderr
        assert [t.rcpts for t in sink.messages()] == [["u@example.com"], ["w@example.com"]]
        row = qs.row(mid)
        assert row["state"] == "released" and all(x["released_at"] > 0 for x in row["rcpts"])
        r = qs.run("release", mid)
        assert r.returncode == 1 and b"already released" in r.stderr
        assert len(sink.messages()) == 2
    finally:
        sink.close()


def test_scand_killed_between_commit_and_answer_settles_deferred(workdir, postfix_factory, scand_factory):
    """SIGKILL while the downstream holds the data: the attempt is committed
    open with its alerts held and no answer was given. The restarted scand
    makes it deferred and cancels its alerts (the client retries: a new
    attempt, which sends the one set of alerts)."""
    down, alerts = smtpsink.Sink(), smtpsink.Sink()
    down.data_delay = 30  # the first transaction hangs before its 250
    try:
        pf, sd = virus_pair(workdir, postfix_factory, scand_factory, down, alerts)
        mid = "<killed-open@gh-test>"
        pf.send("alice@example.org", ["bob@example.com", "carol@example.com"],
                ghtest.make_message(subject="eicar killed", message_id=mid, body=EICAR.decode() + "\r\n"))
        ghtest.wait_for(lambda: [r[1] for r in attempt_rows(sd.db, mid)] == ["open"], timeout=60,
                        what="the open attempt")
        held = ghtest.db_rows(sd.db, "SELECT state FROM outbox")
        assert sorted(held) == [("held",), ("held",)], held
        sd.kill()
        assert alerts.messages() == []
        down.data_delay = 0
        sd.start()
        ghtest.wait_for(lambda: pf.flush() or [r[1] for r in attempt_rows(sd.db, mid)] == ["deferred", "final"],
                        timeout=120, step=1, what="the retried attempt (scand log:\n%s)" % sd.log()[-3000:])
        ghtest.wait_for(lambda: len(alerts.messages()) >= 2, timeout=30, what="the two alerts")
        time.sleep(3)  # and no more
        sent = sorted(tuple(t.rcpts) for t in alerts.messages())
        assert sent == sorted([(ADMIN,), ("carol@example.com",)]), sent
        rows = attempt_rows(sd.db, mid)
        first = ghtest.db_rows(sd.db, "SELECT state, last_error FROM outbox WHERE mail_id = ?", rows[0][0])
        assert [s for s, _ in first] == ["cancelled", "cancelled"] and "stopped scand" in first[0][1], first
        assert "left open by the last run settled as deferred" in sd.log()
        qs = QStore(os.path.join(workdir, "qc"), scand=sd)
        r = qs.run("release", rows[0][0])
        assert r.returncode == 1 and b"deferred attempt" in r.stderr, r.stderr
    finally:
        down.close()
        alerts.close()
