"""scand behind a real private Postfix instance: after-queue (SMTP and LMTP),
before-queue (smtpd_proxy_filter), and the no-loss promise when the
reinjection path is down or scand is killed mid-message."""

import glob
import signal
import sqlite3

import pytest

import ghtest
from stallproxy import StallProxy

BODY = "first line\r\n.leading dot\r\n..two dots\r\n.\r\nlast line " + "x" * 900 + "\r\n"


def wire(pf_mode, postfix_factory, scand_factory, scand_port=None, forward_port=None, **kw):
    """Postfix (mode) -> scand -> Postfix reinjection smtpd. Ports may be
    redirected through proxies with scand_port/forward_port."""
    reinject = ghtest.free_port()
    sport = ghtest.free_port()
    pf = postfix_factory(mode=pf_mode, filter_port=scand_port or sport, reinject_port=reinject)
    sd = scand_factory(forward_port or reinject, port=sport, **kw)
    return pf, sd


def count_message_id(pf, mid):
    n = 0
    for f in pf.delivered():
        if ("Message-ID: %s" % mid).encode() in open(f, "rb").read():
            n += 1
    return n


def check_delivered(pf, sd, mid):
    files = pf.wait_delivered(1)
    assert len(files) == 1
    want = BODY.replace("\r\n", "\n").encode()
    # the pipe transport may still be writing the file
    raw = ghtest.wait_for(lambda: (lambda r: r if r.endswith(want) else None)(open(files[0], "rb").read()),
                          timeout=10, what="complete delivery file")
    assert b"X-Virus-Scanned: Gatehouse scand 0.1.0" in raw
    # the pipe transport writes LF line ends; otherwise byte-identical
    assert ghtest.body_of(raw) == want
    db = sqlite3.connect(sd.db)
    q = ("SELECT m.client_addr, r.destiny, r.smtp_answer FROM msgs m JOIN msgrcpt r ON r.msg = m.id"
         " WHERE m.message_id = ?")
    # answers are written just behind the reply (answers.h)
    rows = ghtest.wait_for(lambda: (lambda r: r if r and all(x[2] for x in r) else None)(
        db.execute(q, (mid,)).fetchall()), timeout=10, what="store rows with answers")
    # one row per attempt: earlier attempts answered 451 are "tempfail"
    passed = [r for r in rows if r[1] == "pass"]
    assert len(passed) == 1 and passed[0][0] == "127.0.0.1" and passed[0][2].startswith("2"), rows
    assert all(r[1] == "tempfail" and r[2].startswith("451 4.3.0") for r in rows if r[1] != "pass"), rows


@pytest.mark.parametrize("mode", ["smtp", "lmtp", "proxy"])
def test_mail_goes_through_scand_and_is_delivered(mode, postfix_factory, scand_factory):
    pf, sd = wire(mode, postfix_factory, scand_factory,
                  sections={"scand": {"before_queue": "yes" if mode == "proxy" else "no"}})
    mid = "<flow-%s@gh-test>" % mode
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(body=BODY, message_id=mid))
    check_delivered(pf, sd, mid)
    assert "Passed CLEAN {RelayedInbound}, [127.0.0.1] <alice@example.org> -> <bob@example.com>" in sd.log()


def test_reinjection_down_keeps_mail_in_postfix_queue(postfix_factory, scand_factory):
    pf, sd = wire("smtp", postfix_factory, scand_factory)
    pf.reinject_down()
    mid = "<down@gh-test>"
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(body=BODY, message_id=mid))
    ghtest.wait_for(lambda: "451 4.3.0" in pf.log(), timeout=20, what="scand's 451 in the maillog")
    assert pf.queue_ids() and pf.delivered() == []
    pf.reinject_up()
    pf.flush()
    check_delivered(pf, sd, mid)
    assert count_message_id(pf, mid) == 1


@pytest.mark.parametrize("where", ["in-data", "forwarding"])
def test_sigkill_mid_message_loses_nothing_and_duplicates_nothing(where, postfix_factory, scand_factory):
    reinject = ghtest.free_port()
    sport = ghtest.free_port()
    # in-data: Postfix -> proxy -> scand; forwarding: scand -> proxy -> reinjection
    proxy = StallProxy(sport if where == "in-data" else reinject)
    try:
        pf = postfix_factory(mode="smtp", filter_port=proxy.port if where == "in-data" else sport,
                             reinject_port=reinject)
        sd = scand_factory(proxy.port if where == "forwarding" else reinject, port=sport)
        mid = "<kill-%s@gh-test>" % where
        body = BODY + "STALL-HERE\r\n" + "tail\r\n" * 10
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(body=body, message_id=mid))
        assert proxy.stalled.wait(20), pf.log()
        sd.kill()
        ghtest.wait_for(lambda: "lost connection" in pf.log() or "Connection reset" in pf.log(), timeout=20,
                        what="Postfix to notice the dead filter")
        assert pf.queue_ids() and pf.delivered() == []
        proxy.stall = False
        sd.start()
        pf.flush()
        pf.wait_delivered(1)
        ghtest.wait_for(lambda: count_message_id(pf, mid) >= 1, timeout=10, what="the delivered copy")
        ghtest.wait_for(lambda: not pf.queue_ids(), timeout=20, what="empty queue")
        assert count_message_id(pf, mid) == 1
        assert glob.glob(sd.work + "/*") == []
    finally:
        proxy.close()
