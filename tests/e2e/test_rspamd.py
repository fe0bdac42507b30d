"""scand with [spam] backend = rspamd, against a real rspamd (ghtest.Rspamd:
private configuration, loopback ports, network checks off).

  gtube + clean     through Postfix: GTUBE is SPAM (rspamd's reject score),
                    quarantined and recorded with engine rspamd; a clean
                    message passes with X-Spam-Status listing rspamd's
                    symbols and scores (tag_level = -999), rspamd's milter
                    header on one line, the symbols in the store.
  actions           rspamd_actions = yes: greylist answers 451 4.7.1 before
                    the queue and is ignored after it; reject is SPAM even
                    with a kill_level above its score; = no: score only.
  killed mid-load   rspamd killed (every process, SIGKILL) while Postfix
                    feeds scand, on_failure = tempfail: 451s, one log line
                    for the failures, and once rspamd is back every message
                    is delivered exactly once, each one checked.
  down, pass        on_failure = pass: every message passes unchecked, and
                    the failing engine is logged once, not per message.
  oversize reply    a reply over the bound (a small fake HTTP server, the one
                    thing a real rspamd will not send) is refused cleanly:
                    451 with the reason, and the next answer is used.
"""

import http.server
import os
import re
import smtplib
import sqlite3
import threading
import time

import pytest

import ghtest
from test_engines import start_pair  # scand + a Postfix that filters through it
from test_faults import delivered_mids  # Message-ID -> delivered copies

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def msg_rows(db, mid):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT m.category, m.engine, m.quar_path, m.spam_score, m.spam_tests, r.destiny "
                           "FROM msgs m JOIN msgrcpt r ON r.msg = m.id WHERE m.message_id = ?", (mid,)).fetchall()
    finally:
        con.close()


def header_of(raw):
    return raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]


def test_gtube_spam_and_clean_tagged(postfix_factory, scand_factory, rspamd):
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp",
                        {"spam": rspamd.spam_section(tag_level="-999", tag2_level="9", kill_level="9")})
    gtube = ghtest.make_message(subject="gtube", body=GTUBE + "\r\n", message_id="<gtube-rspamd@gh-test>")
    clean = ghtest.make_message(subject="minutes", message_id="<clean-rspamd@gh-test>",
                                body="Hi Bob,\r\n\r\nthe minutes of Tuesday are on the wiki.\r\n\r\nAlice\r\n")
    pf.send("alice@example.org", ["bob@example.com"], gtube)
    pf.send("alice@example.org", ["bob@example.com"], clean)
    path = pf.wait_delivered(1, timeout=60)[0]
    ghtest.wait_for(lambda: msg_rows(sc.db, "<gtube-rspamd@gh-test>"), timeout=60, what="GTUBE's row")
    time.sleep(0.5)

    (cat, engine, qpath, score, tests, destiny), = msg_rows(sc.db, "<gtube-rspamd@gh-test>")
    assert (cat, engine, destiny) == ("spam", "rspamd", "discard")
    assert score >= 15.0 and "GTUBE" in tests
    assert qpath.startswith("spam/") and os.path.getsize(os.path.join(sc.quarantine, qpath)) > 0
    assert "<gtube-rspamd@gh-test>" not in delivered_mids(pf)

    head = header_of(open(path, "rb").read())
    assert b"Message-ID: <clean-rspamd@gh-test>" in head
    m = re.search(rb"X-Spam-Status: No, score=(-?[\d.]+) tag=-999 tag2=9 kill=9 tests=\[([^\]]*)\]", head)
    assert m, head.decode(errors="replace")
    symbols = m.group(2).decode().split(", ")
    assert all(re.fullmatch(r"[A-Z0-9_]+=-?\d+\.\d\d", s) for s in symbols), symbols
    assert any(s.startswith("MIME_GOOD=") for s in symbols), symbols
    assert re.search(rb"X-Spamd-Result: default: False \[[-\d.]+ / [\d.]+\]; [A-Z]", head), head
    (cat, engine, qpath, score, tests, destiny), = msg_rows(sc.db, "<clean-rspamd@gh-test>")
    assert (cat, destiny, qpath) == ("clean", "pass", None)
    assert abs(score - float(m.group(1))) < 0.01 and "MIME_GOOD=" in tests


def send_direct(port, raw, rcpts=("bob@example.com",)):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail("alice@example.org", list(rcpts), raw)


def test_actions_before_and_after_queue(scand_factory, rspamd_factory, sink):
    # every message is greylisted by rspamd's thresholds; GTUBE is a forced reject
    rs = rspamd_factory(actions={"greylist": -100, "add_header": 1000, "reject": 2000})
    spam = rs.spam_section(rspamd_actions="yes", kill_level="5000", tag2_level="5000")
    bq = scand_factory(sink.port, name="bq", sections={"scand": {"before_queue": "yes"}, "spam": spam})
    aq = scand_factory(sink.port, name="aq", sections={"spam": spam})
    score_only = scand_factory(sink.port, name="so", sections={
        "scand": {"before_queue": "yes"}, "spam": rs.spam_section(kill_level="1000", tag2_level="1000")})

    with pytest.raises(smtplib.SMTPDataError) as e:
        send_direct(bq.port, ghtest.make_message(subject="greylisted", message_id="<grey-bq@gh-test>"))
    assert e.value.smtp_code == 451 and e.value.smtp_error.startswith(b"4.7.1"), e.value
    assert not sink.messages()
    send_direct(aq.port, ghtest.make_message(subject="greylisted", message_id="<grey-aq@gh-test>"))
    send_direct(score_only.port, ghtest.make_message(subject="greylisted", message_id="<grey-so@gh-test>"))
    ghtest.wait_for(lambda: len(sink.messages()) == 2, timeout=30, what="both passed")
    assert [r[5] for r in msg_rows(aq.db, "<grey-aq@gh-test>")] == ["pass"]

    # reject: SPAM with the action honoured, though the score is far below kill_level
    send_direct(aq.port, ghtest.make_message(subject="gtube", body=GTUBE + "\r\n", message_id="<gtube-aq@gh-test>"))
    (cat, engine, qpath, score, tests, destiny), = msg_rows(aq.db, "<gtube-aq@gh-test>")
    assert (cat, engine, destiny) == ("spam", "rspamd", "discard") and score < 5000 and qpath.startswith("spam/")
    time.sleep(0.5)
    assert len(sink.messages()) == 2


def test_rspamd_killed_mid_load_nothing_lost(postfix_factory, scand_factory, rspamd_factory):
    rs = rspamd_factory()
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp",
                        {"spam": rs.spam_section(on_failure="tempfail", kill_level="100", tag2_level="100",
                                                 tag_level="-999")})
    mids = ["<rkill-%02d@gh-test>" % i for i in range(40)]

    def feed():
        with smtplib.SMTP("127.0.0.1", pf.smtpd_port, timeout=60) as s:
            for i, mid in enumerate(mids):
                s.sendmail("alice@example.org", ["bob@example.com"],
                           ghtest.make_message(subject="load %d" % i, message_id=mid,
                                               body=("line %d of a message under load\r\n" % i) * 50))

    t = threading.Thread(target=feed)
    t.start()
    ghtest.wait_for(lambda: len(pf.delivered()) >= 5, timeout=60, what="the first deliveries")
    rs.kill()
    t.join(timeout=60)
    ghtest.wait_for(lambda: pf.log().count("content check temporarily unavailable") >= 2, timeout=60,
                    what="scand's 451s in the maillog")
    failing = [ln for ln in sc.log().splitlines() if "spam: rspamd %s failing" % rs.addr in ln]
    assert len(failing) == 1, failing  # once a minute at most, not per message
    assert "1 failure since the last report" in failing[0]

    rspamd_factory(name="rspamd2", port=rs.port, controller_port=rs.controller_port)
    pf.flush()
    ghtest.wait_for(lambda: len(delivered_mids(pf)) == len(mids) and not pf.queue_ids(), timeout=120,
                    what="every message delivered once rspamd is back")
    got = delivered_mids(pf)
    assert all(got.get(mid) == 1 for mid in mids), got
    for mid in mids:
        passed = [r for r in msg_rows(sc.db, mid) if r[5] == "pass"]
        assert len(passed) == 1 and passed[0][3] is not None, (mid, passed)  # passed only once checked
    for f in pf.delivered():
        assert b"X-Spam-Status: No, score=" in header_of(open(f, "rb").read())


def test_rspamd_down_pass_logged_once(scand_factory, sink):
    dead = ghtest.free_port()
    sc = scand_factory(sink.port, sections={"spam": {"enabled": "yes", "backend": "rspamd",
                                                     "rspamd": "127.0.0.1:%d" % dead, "timeout": "5s"}})
    for i in range(6):
        send_direct(sc.port, ghtest.make_message(subject="down %d" % i, message_id="<down-%d@gh-test>" % i))
    assert len(sink.messages()) == 6
    for i in range(6):
        (cat, engine, qpath, score, tests, destiny), = msg_rows(sc.db, "<down-%d@gh-test>" % i)
        assert (cat, destiny, score) == ("clean", "pass", None)
    failing = [ln for ln in sc.log().splitlines() if "failing" in ln]
    assert len(failing) == 1 and "spam: rspamd 127.0.0.1:%d failing" % dead in failing[0], failing
    assert "1 failure since the last report" in failing[0]


class FakeRspamd(http.server.ThreadingHTTPServer):
    """Answers /checkv2 with a reply of reply_size bytes (valid JSON either way)."""

    def __init__(self):
        self.reply_size = 2 * 1024 * 1024
        self.requests = 0
        super().__init__(("127.0.0.1", 0), FakeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def reply(self):
        base = '{"score":1.5,"action":"no action","symbols":{"FAKE_SYMBOL":{"score":1.5}},"pad":"%s"}'
        return (base % ("x" * max(0, self.reply_size - len(base)))).encode()


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        body = self.server.reply()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client hung up on the oversize reply: that is the point

    def log_message(self, *args):
        pass


def test_oversize_reply_refused(scand_factory, sink):
    fake = FakeRspamd()
    try:
        sc = scand_factory(sink.port, sections={"spam": {
            "enabled": "yes", "backend": "rspamd", "rspamd": "127.0.0.1:%d" % fake.server_address[1],
            "on_failure": "tempfail", "tag_level": "-999"}})
        with pytest.raises(smtplib.SMTPDataError) as e:
            send_direct(sc.port, ghtest.make_message(subject="big reply"))
        assert e.value.smtp_code == 451
        assert "reply larger than 1048576 bytes" in sc.log()
        assert not sink.messages()
        fake.reply_size = 200
        send_direct(sc.port, ghtest.make_message(subject="small reply", message_id="<small@gh-test>"))
        assert len(sink.messages()) == 1
        assert b"X-Spam-Status: No, score=1.500 tag=-999 tag2=6.31 kill=6.31 tests=[FAKE_SYMBOL=1.50]" in \
            sink.messages()[0].data
        assert sc.proc.poll() is None
    finally:
        fake.shutdown()
        fake.server_close()
