"""scand's SMTP/LMTP protocol over a socket, with a recording downstream
(smtpsink.Sink) so that what scand forwards can be checked byte for byte."""

import os
import re
import signal
import sqlite3
import threading
import time

import pytest

import ghtest
import smtpsink

XVS = b"X-Virus-Scanned: Gatehouse scand "


@pytest.fixture
def scand(sink, scand_factory):
    return scand_factory(sink.port, sections={"scand": {"spool_memory_limit": "64k", "max_errors": "5",
                                                        "max_recipients": "3"}})


def session(port, hello="EHLO client.example"):
    c = smtpsink.Client(port)
    assert c.reply()[0] == 220
    code, lines = c.cmd(hello)
    assert code == 250, lines
    return c, lines


def transaction(c, body, sender="alice@example.org", rcpts=("bob@example.com",), lmtp=False):
    """Pipelined MAIL/RCPT/DATA in one write, then the data; returns the reply(ies) after data."""
    cmds = "MAIL FROM:<%s>\r\n" % sender + "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n"
    c.send(cmds)
    codes = [c.reply()[0] for _ in range(len(rcpts) + 2)]
    assert codes == [250] * (len(rcpts) + 1) + [354], codes
    c.send(body + b".\r\n")
    if lmtp:
        return [c.reply() for _ in rcpts]
    return c.reply()


def stuff(raw):
    """Dot-stuff a message for the wire."""
    out = b"".join((b"." + l if l.startswith(b".") else l) for l in raw.splitlines(keepends=True))
    return out


def test_ehlo_and_lhlo_capabilities(scand):
    caps = ["PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8",
            "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE", "DSN"]
    for verb in ("EHLO", "LHLO"):
        c, lines = session(scand.port, verb + " client.example")
        assert [l[4:] for l in lines[1:]] == caps, lines
        c.close()
    c = smtpsink.Client(scand.port)
    c.reply()
    code, lines = c.cmd("HELO client.example")
    assert code == 250 and len(lines) == 1
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=10")[0] == 555  # no ESMTP parameters after HELO
    assert c.cmd("QUIT")[0] == 221


def test_pipelined_transaction_forwards_envelope_xforward_and_dsn(scand, sink):
    c, _ = session(scand.port)
    assert c.cmd("XFORWARD NAME=mx.example.net ADDR=192.0.2.7 PORT=4711 PROTO=ESMTP HELO=mx+20helo")[0] == 250
    c.send("MAIL FROM:<alice@example.org> SIZE=200 BODY=8BITMIME RET=HDRS ENVID=abc+2Bdef\r\n"
           "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com\r\n"
           "RCPT TO:<carol@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    msg = ghtest.make_message(subject="pipelined", message_id="<pipe-1@gh-test>")
    c.send(msg + b".\r\n")
    code, lines = c.reply()
    assert code == 250 and "2.0.0" in lines[0], lines
    assert c.cmd("QUIT")[0] == 221
    t = sink.messages()[0]
    assert t.xforward == {"NAME": "mx.example.net", "ADDR": "192.0.2.7", "PORT": "4711", "PROTO": "ESMTP",
                          "HELO": "mx+20helo"}
    assert t.mail.startswith("MAIL FROM:<alice@example.org> SIZE=")
    assert "BODY=8BITMIME" in t.mail and "RET=HDRS" in t.mail and "ENVID=abc+2Bdef" in t.mail
    assert t.rcpt_lines == ["RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com",
                            "RCPT TO:<carol@example.com>"]
    assert t.data.startswith(XVS) and t.data.endswith(msg)
    # the store has the row, with the client from XFORWARD and the answer
    db = sqlite3.connect(scand.db)
    row = db.execute("SELECT id, client_addr, client_name, client_helo, sender, subject, message_id, category"
                     " FROM msgs").fetchone()
    assert row[1:] == ("192.0.2.7", "mx.example.net", "mx helo", "alice@example.org", "pipelined",
                       "<pipe-1@gh-test>", "clean")
    # the answers are written just behind the reply (answers.h)
    rc = ghtest.wait_for(lambda: (lambda rows: rows if all(r[2] for r in rows) else None)(db.execute(
        "SELECT addr, destiny, smtp_answer FROM msgrcpt WHERE msg = ? ORDER BY rseq", (row[0],)).fetchall()),
        timeout=5, what="answers in the store")
    assert [r[:2] for r in rc] == [("bob@example.com", "pass"), ("carol@example.com", "pass")]
    assert all(r[2].startswith("250 2.0.0") for r in rc), rc
    log = ghtest.wait_for(lambda: re.search(
        r"\((\S{12})\) Passed CLEAN \{RelayedInbound\}, \[192\.0\.2\.7\] <alice@example\.org> -> "
        r"<bob@example\.com>,<carol@example\.com>, Message-ID: <pipe-1@gh-test>, mail_id: \1, size: \d+, "
        r"queued_as: SINK1, \d+ ms", scand.log()), timeout=5, what="log line")
    assert log


def test_dot_stuffed_lines_round_trip_byte_exact(scand, sink):
    body = (b".\r\n..\r\n.leading dot\r\ntrailing dot.\r\n\r\n.\r\n" + b"x" * 5000 + b"\r\n"
            + bytes(range(128, 256)) + b"\r\n..two\r\n")
    msg = ghtest.make_message(subject="dots") .replace(b"hello\r\n", b"") + body
    c, _ = session(scand.port)
    assert transaction(c, stuff(msg))[0] == 250
    # larger than spool_memory_limit: goes through the file spool
    big = ghtest.make_message(subject="big").replace(b"hello\r\n", b"") + (b".dot\r\n" + b"y" * 998 + b"\r\n") * 300
    assert transaction(c, stuff(big))[0] == 250
    c.cmd("QUIT")
    got = sink.messages()
    for g, want in ((got[0], msg), (got[1], big)):
        first, rest = g.data.split(b"\r\n", 1)
        assert first.startswith(XVS + b"0.1.0 (libclamav ") and rest == want
    assert os.listdir(scand.work) == []  # spool files never stay


def test_errors_get_5xx_and_the_session_goes_on(scand, sink):
    c, _ = session(scand.port)
    assert c.cmd("NOOP " + "a" * (1000 - 7))[0] == 250          # exactly 1,000 bytes with CR LF
    code, lines = c.cmd("NOOP " + "a" * (1001 - 7))              # 1,001 bytes
    assert code == 500 and lines[0].startswith("500 5.5.2"), lines
    code, lines = c.cmd("FROB")
    assert code == 502 and lines[0].startswith("502 5.5.2"), lines
    code, lines = c.cmd("RCPT TO:<bob@example.com>")
    assert code == 503 and lines[0].startswith("503 5.5.1"), lines
    assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
    code, lines = c.cmd("DATA")
    assert code == 503 and lines[0].startswith("503 5.5.1"), lines
    assert c.cmd("RSET")[0] == 250
    # the session still works
    assert transaction(c, ghtest.make_message(subject="after errors"))[0] == 250
    assert c.cmd("QUIT")[0] == 221
    assert len(sink.messages()) == 1


def test_control_characters_in_addresses_are_refused(scand):
    c, _ = session(scand.port)
    code, lines = c.cmd("MAIL FROM:<a\rb@example.org>")
    assert code == 500 and "5.5.2" in lines[0]
    code, lines = c.cmd("MAIL FROM:<a\x01b@example.org>")
    assert code == 501 and "5.1.7" in lines[0]
    c.send(b"MAIL FROM:<a\x00b@example.org>\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("MAIL FROM:<ok@example.org>")[0] == 250
    code, lines = c.cmd("RCPT TO:<x\x7fy@example.com>")
    assert code == 501 and "5.1.3" in lines[0]


def test_too_many_errors_closes_with_421(scand):
    c, _ = session(scand.port)
    for _ in range(4):
        assert c.cmd("FROB")[0] == 502
    assert c.cmd("FROB")[0] == 502
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0"), lines
    with pytest.raises((EOFError, ConnectionError)):
        c.cmd("NOOP")


def test_recipient_limit(scand):
    c, _ = session(scand.port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    for i in range(3):
        assert c.cmd("RCPT TO:<r%d@example.com>" % i)[0] == 250
    code, lines = c.cmd("RCPT TO:<r9@example.com>")
    assert code == 452 and "4.5.3" in lines[0]


def test_size_over_the_limit_gets_552(sink, scand_factory):
    sd = scand_factory(sink.port, sections={"scand": {"message_size_limit": "4k"}})
    c, lines = session(sd.port)
    assert "250-SIZE 4096" in lines
    code, lines = c.cmd("MAIL FROM:<a@example.org> SIZE=5000")
    assert code == 552 and "5.3.4" in lines[0]
    msg = ghtest.make_message(body="z" * 6000 + "\r\n")
    code, lines = transaction(c, msg)
    assert code == 552 and "5.3.4" in lines[0]
    assert transaction(c, ghtest.make_message())[0] == 250   # the session goes on
    assert len(sink.messages()) == 1


def test_downstream_down_answers_451(sink, scand_factory):
    sink.down = True
    sd = scand_factory(sink.port)
    c, _ = session(sd.port)
    code, lines = transaction(c, ghtest.make_message(subject="down"))
    assert code == 451 and "4.3.0" in lines[0], lines
    db = sqlite3.connect(sd.db)
    ghtest.wait_for(lambda: db.execute("SELECT destiny FROM msgrcpt").fetchall() == [("tempfail",)], timeout=5,
                    what="tempfail recorded")
    sink.close()
    code, lines = transaction(c, ghtest.make_message(subject="refused"))  # connection refused
    assert code == 451, lines


def test_smtp_mixed_results_rule(sink, scand):
    """No loss, no duplicates: any deferral -> 451 and nothing sent; permanent
    refusals beside acceptances -> 250 and a notice to the sender; all refused -> 5xx."""
    replies = {"defer@example.com": "450 4.2.0 mailbox busy", "gone@example.com": "550 5.1.1 no such user"}
    sink.rcpt_reply = lambda a: replies.get(a)
    c, _ = session(scand.port)
    code, lines = transaction(c, ghtest.make_message(), rcpts=("ok@example.com", "defer@example.com"))
    assert code == 451 and lines[0].startswith("451 4.3.0"), lines
    assert sink.messages() == []
    code, lines = transaction(c, ghtest.make_message(message_id="<mixed@gh-test>"),
                              rcpts=("ok@example.com", "gone@example.com"))
    assert code == 250, lines
    # the notice goes through notify's outbox (a sender thread), just behind the 250
    got = ghtest.wait_for(lambda: (lambda g: g if len(g) >= 2 else None)(sink.messages()), timeout=10,
                          what="the failure notice")
    assert got[0].rcpts == ["ok@example.com"]
    notice = got[1]
    assert notice.mail.startswith("MAIL FROM:<>") and notice.rcpts == ["alice@example.org"]
    assert b"<gone@example.com>: 550 5.1.1 no such user" in notice.data
    code, lines = transaction(c, ghtest.make_message(), rcpts=("gone@example.com",))
    assert code == 550 and lines[0].startswith("550 5.1.1"), lines
    assert len(sink.messages()) == 2


def test_lmtp_replies_per_recipient(sink, scand):
    sink.rcpt_reply = lambda a: "550 5.1.1 no such user" if a.startswith("gone") else None
    c, _ = session(scand.port, "LHLO client.example")
    replies = transaction(c, ghtest.make_message(), rcpts=("a@example.com", "gone@example.com", "b@example.com"),
                          lmtp=True)
    assert [r[0] for r in replies] == [250, 550, 250], replies
    assert sink.messages()[0].rcpts == ["a@example.com", "b@example.com"]


def test_sigterm_finishes_four_messages_in_flight(sink, scand_factory):
    sink.data_delay = 1.5
    sd = scand_factory(sink.port, sections={"scand": {"max_servers": "4"}})
    results = []

    def one(i):
        c, _ = session(sd.port)
        results.append(transaction(c, ghtest.make_message(subject="inflight %d" % i))[0])
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    # the sink holds its reply to the end of data: all 4 are being forwarded
    ghtest.wait_for(lambda: len(sink.messages()) >= 4, timeout=10, step=0.02, what="4 messages downstream")
    pidfile = os.path.join(sd.dir, "scand.pid")
    assert open(pidfile).read() == "%d\n" % sd.proc.pid
    sd.signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert sorted(results) == [250] * 4
    assert sd.proc.wait(20) == 0
    assert len(sink.messages()) == 4
    assert not os.path.exists(pidfile)


def test_sighup_reloads_without_dropping_connections(sink, scand):
    c, lines = session(scand.port)
    assert "250-SIZE 52428800" in lines
    conf = open(scand.conf_path).read().replace("[scand]\n", "[scand]\nmessage_size_limit = 2M\n")
    open(scand.conf_path, "w").write(conf)
    scand.signal(signal.SIGHUP)
    ghtest.wait_for(lambda: "reloaded" in scand.log(), timeout=5, what="reload")
    assert transaction(c, ghtest.make_message(subject="same session"))[0] == 250
    c2, lines2 = session(scand.port)
    assert "250-SIZE 2097152" in lines2
    assert scand.proc.poll() is None


def test_drops_privileges_after_binding(sink, scand_factory):
    sd = scand_factory(sink.port, sections={"scand": {"allow_root": "no", "user": "nobody", "group": "nogroup"}})
    # the port is bound before the drop: the start line comes after it
    ghtest.wait_for(lambda: "ready:" in sd.log(), timeout=30, what="start line")
    status = open("/proc/%d/status" % sd.proc.pid).read()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    nobody = int(__import__("pwd").getpwnam("nobody").pw_uid)
    nogroup = int(__import__("grp").getgrnam("nogroup").gr_gid)
    assert set(map(int, uids)) == {nobody} and set(map(int, gids)) == {nogroup}
    assert groups in ([], [str(nogroup)])
    # and it still works: spool dir, store and forwarding
    c, _ = session(sd.port)
    assert transaction(c, ghtest.make_message(subject="unprivileged"))[0] == 250
    assert len(sink.messages()) == 1


def test_refuses_unknown_user(sink, scand_factory):
    sd = scand_factory(sink.port, start=False, sections={"scand": {"allow_root": "no", "user": "no-such-user-gh"}})
    sd.start(wait=False)
    assert sd.proc.wait(30) == 1
    assert "unknown user no-such-user-gh" in sd.log()


def test_unix_socket_listener_and_command_timeout(sink, scand_factory, workdir):
    import socket as so
    path = os.path.join(workdir, "scand.sock")
    port = ghtest.free_port()
    sd = scand_factory(sink.port, port=port, sections={"scand": {
        "listen": "127.0.0.1:%d, unix:%s" % (port, path), "command_timeout": "1s"}})
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"LHLO unix.example\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    # idle longer than command_timeout: 421 4.4.2 and the connection closes
    line = f.readline()
    assert line.startswith(b"421 4.4.2"), line
    assert f.readline() == b""
    s.close()


def test_xforward_and_dsn_only_as_offered(sink, scand):
    sink.caps = ["PIPELINING", "XFORWARD NAME ADDR"]
    c, _ = session(scand.port)
    assert c.cmd("XFORWARD NAME=mx.example.net ADDR=192.0.2.7 HELO=evil+0D+0Ahelo")[0] == 501  # CR LF refused
    assert c.cmd("XFORWARD NAME=mx.example.net ADDR=192.0.2.7 HELO=h PROTO=ESMTP")[0] == 250
    c.send("MAIL FROM:<a@example.org> RET=FULL ENVID=x1\r\nRCPT TO:<b@example.com> NOTIFY=NEVER\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(ghtest.make_message() + b".\r\n")
    assert c.reply()[0] == 250
    t = sink.messages()[0]
    assert t.xforward == {"NAME": "mx.example.net", "ADDR": "192.0.2.7"}
    assert t.mail == "MAIL FROM:<a@example.org>" and t.rcpt_lines == ["RCPT TO:<b@example.com>"]


def test_lmtp_downstream(scand_factory):
    """forward = lmtp:host:port: LHLO downstream, per-recipient results after the data."""
    sink = smtpsink.Sink(lmtp=True)
    try:
        sd = scand_factory(sink.port, sections={"scand": {"forward": "lmtp:127.0.0.1:%d" % sink.port}})
        # LMTP upstream: each recipient gets its own downstream result
        sink.data_reply = lambda a: "452 4.2.2 mailbox full" if a.startswith("full") else None
        c, _ = session(sd.port, "LHLO client.example")
        replies = transaction(c, ghtest.make_message(), rcpts=("a@example.com", "full@example.com"), lmtp=True)
        assert [r[0] for r in replies] == [250, 452], replies
        # SMTP upstream, split after the data: delivered to one -> 250 and a notice for the other
        c2, _ = session(sd.port)
        code, lines = transaction(c2, ghtest.make_message(), rcpts=("a@example.com", "full@example.com"))
        assert code == 250, lines
        # queued in notify's outbox with the verdict; its sender thread delivers it
        notice = ghtest.wait_for(lambda: ([t for t in sink.messages() if t.mail.startswith("MAIL FROM:<>")]
                                          or [None])[-1], timeout=10, what="the failure notice")
        assert notice.mail.startswith("MAIL FROM:<>") and b"<full@example.com>: 452 4.2.2 mailbox full" in notice.data
    finally:
        sink.close()


def test_bare_lf_dot_does_not_end_data(scand, sink):
    """SMTP smuggling: only CR LF . CR LF ends the data."""
    c, _ = session(scand.port)
    smuggled = (b"Subject: smuggle\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.com>\r\n"
                b"DATA\r\n\r\nforged\r\n")
    code, lines = transaction(c, smuggled)
    assert code == 250, lines
    assert c.cmd("NOOP")[0] == 250   # nothing else was answered in between
    got = sink.messages()
    assert len(got) == 1 and got[0].rcpts == ["bob@example.com"]
    assert b"MAIL FROM:<evil@example.org>" in got[0].data


def test_data_timeout_gets_421(sink, scand_factory):
    sd = scand_factory(sink.port, sections={"scand": {"data_timeout": "1s"}})
    c, _ = session(sd.port)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send("Subject: slow\r\n\r\npartial")
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.4.2"), lines
    assert sink.messages() == []


def test_store_failure_answers_451_and_forwards_nothing(sink, scand_factory):
    """Fault injection: another process holds the database's write lock for
    longer than busy_timeout; scand must not answer 250 (nor forward) without
    its record."""
    sd = scand_factory(sink.port, sections={"scand": {"busy_timeout": "1s"}})
    c, _ = session(sd.port)
    assert transaction(c, ghtest.make_message(subject="before"))[0] == 250
    # (a wait of its own: scand's answers writer commits just after a reply)
    locker = sqlite3.connect(sd.db, timeout=5, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        code, lines = transaction(c, ghtest.make_message(subject="locked out"))
        assert code == 451 and lines[0].startswith("451 4.3.0"), lines
        assert len(sink.messages()) == 1
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert transaction(c, ghtest.make_message(subject="after"))[0] == 250
    assert len(sink.messages()) == 2
