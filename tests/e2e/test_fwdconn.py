"""The kept reinjection connection's life: scand reuses its connection to
[scand] forward for messages close together, and opens a fresh one when the
kept one has been idle too long (forward_idle_limit), is too old
(forward_max_age), has carried its share (forward_reuse_limit), or the
downstream refused the session's part of the last transaction (451 to the
final dot: QUIT and close) or said 421 (close without a word).

The downstream is a scripted SMTP server written here: it counts its
connections and records the commands of each, so that which connection
carried which message, and how each ended, can be checked."""

import smtplib
import threading
import time

import pytest

import ghtest
import smtpsink


class Conn:
    """One connection the downstream accepted."""

    def __init__(self, n):
        self.n = n
        self.cmds = []        # command lines, in order
        self.delivered = 0    # messages answered 250 after the final dot
        self.said_421 = False
        self.after_421 = []   # commands that came after our 421
        self.closed = threading.Event()


class Downstream:
    """A scripted SMTP server on 127.0.0.1 (kernel-chosen port).

    Transactions are numbered across connections from 1 by their MAIL
    command; final[n] / mail[n] / rcpt[n] / data[n] give the reply to the
    final dot / to MAIL / to RCPT / to DATA of transaction n (default 250,
    250, 250, 354; any text, a multi-line reply as lines joined with CR
    LF). After a 421 the connection is left open, as by a server slow to
    close, and answers anything with 421: a client that reuses it fails."""

    def __init__(self):
        self.conns = []
        self.final = {}
        self.rcpt = {}
        self.data = {}
        self.mail = {}
        self.ntxn = 0
        self.lock = threading.Lock()
        self.sock = smtpsink.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                conn = Conn(len(self.conns) + 1)
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(s, conn), daemon=True).start()

    def _serve(self, s, conn):
        try:
            self._dialogue(s, s.makefile("rb"), conn)
        except OSError:
            pass
        finally:
            s.close()
            conn.closed.set()

    def _dialogue(self, s, f, conn):
        def out(line):
            s.sendall(line.encode() + b"\r\n")

        out("220 downstream ESMTP")
        accepted = 0
        txn = 0
        while True:
            got = smtpsink.read_command(f)
            if not got:
                return
            cmd, verb = got
            conn.cmds.append(cmd)
            if conn.said_421:
                conn.after_421.append(cmd)
                out("421 4.3.0 closing")
            elif verb == "EHLO":
                out("250-downstream\r\n250-PIPELINING\r\n250 8BITMIME")
            elif verb == "MAIL":
                with self.lock:
                    self.ntxn += 1
                    txn = self.ntxn
                accepted = 0
                out(self.mail.get(txn, "250 2.1.0 Ok"))
            elif verb == "RCPT":
                r = self.rcpt.get(txn, "250 2.1.5 Ok")
                accepted += r.startswith("2")
                out(r)
            elif verb == "DATA" and not accepted:
                out("554 5.5.1 no valid recipients")
            elif verb == "DATA" and not self.data.get(txn, "354").startswith("354"):
                out(self.data[txn])  # refused, or a reply out of place
            elif verb == "DATA":
                out(self.data.get(txn, "354 go ahead"))
                while f.readline() not in (b".\r\n", b""):
                    pass
                r = self.final.get(txn, "250 2.0.0 Ok: queued")
                conn.delivered += r.startswith("2")
                conn.said_421 = r.startswith("421")
                out(r)
            elif verb == "QUIT":
                out("221 2.0.0 Bye")
                return
            else:  # RSET, NOOP
                out("250 2.0.0 Ok")

    def count(self):
        with self.lock:
            return len(self.conns)

    def per_conn(self):
        """Messages delivered over each connection, in connection order."""
        with self.lock:
            return [c.delivered for c in self.conns]


@pytest.fixture
def down():
    d = Downstream()
    yield d
    d.close()


def start_scand(scand_factory, down, **limits):
    """One worker, so that every message goes over the same kept connection."""
    kv = {"max_servers": "1"}
    kv.update({k: str(v) for k, v in limits.items()})
    return scand_factory(down.port, sections={"scand": kv})


def send(scand, n=0):
    """One message through scand; returns scand's reply code to the data."""
    msg = ghtest.make_message(subject="fwdconn %d" % n)
    with smtplib.SMTP("127.0.0.1", scand.port, timeout=30) as s:
        try:
            s.sendmail("alice@example.org", ["bob@example.com"], msg)
        except smtplib.SMTPDataError as e:
            return e.smtp_code
    return 250


def test_messages_close_together_share_a_connection(down, scand_factory):
    scand = start_scand(scand_factory, down)
    assert send(scand, 1) == 250
    assert send(scand, 2) == 250
    assert down.per_conn() == [2]
    assert not down.conns[0].closed.is_set()  # still kept


def test_idle_connection_is_replaced(down, scand_factory):
    scand = start_scand(scand_factory, down, forward_idle_limit=3)
    assert send(scand, 1) == 250
    assert send(scand, 2) == 250
    assert down.per_conn() == [2]  # within the idle limit: reused
    time.sleep(4)
    assert send(scand, 3) == 250
    assert down.per_conn() == [2, 1]
    first = down.conns[0]
    assert first.closed.wait(5)
    assert first.cmds[-1] == "QUIT"


def test_old_connection_is_replaced(down, scand_factory):
    scand = start_scand(scand_factory, down, forward_max_age=2)
    t0 = time.monotonic()
    sent = []  # (seconds since the first message when it was sent, connections after it)
    for i in range(8):  # one every 0.5 s for 3.5 s
        time.sleep(max(0.0, t0 + 0.5 * i - time.monotonic()))
        start = time.monotonic() - t0
        assert send(scand, i) == 250
        sent.append((start, down.count()))
    # (on a slow machine the sends slip, and the second connection may
    # itself grow old before the last ones: a third is no failure)
    assert down.count() >= 2 and down.per_conn()[0] >= 2, (sent, down.per_conn())
    assert sum(down.per_conn()) == 8
    # the message that opened the second connection was sent once the
    # first was 2 s old: not before 1.5 s, and at the latest one slow
    # send after 2 s
    switch = next(t for t, n in sent if n == 2)
    assert 1.5 <= switch <= 4.0, sent
    assert down.conns[0].closed.wait(5)
    assert down.conns[0].cmds[-1] == "QUIT"


def test_connection_dropped_after_final_451(down, scand_factory):
    scand = start_scand(scand_factory, down)
    down.final[1] = "451 4.3.0 Try again later"
    assert send(scand, 1) // 100 == 4
    first = down.conns[0]
    assert first.closed.wait(5)
    assert first.cmds[-1] == "QUIT"
    assert send(scand, 2) == 250
    assert down.per_conn() == [0, 1]


def test_connection_closed_after_421(down, scand_factory):
    scand = start_scand(scand_factory, down)
    down.final[1] = "421 4.3.2 Shutting down"
    assert send(scand, 1) // 100 == 4
    first = down.conns[0]
    assert first.closed.wait(5)  # scand closed it, the server did not
    assert first.after_421 == []  # not even QUIT
    assert send(scand, 2) == 250
    assert down.per_conn() == [0, 1]


def test_recipient_refusal_keeps_connection(down, scand_factory):
    scand = start_scand(scand_factory, down)
    down.rcpt[1] = "550 5.1.1 No such user"
    assert send(scand, 1) == 550
    assert send(scand, 2) == 250
    assert down.per_conn() == [1]


def test_reuse_limit(down, scand_factory):
    scand = start_scand(scand_factory, down, forward_reuse_limit=3)
    for i in range(7):
        assert send(scand, i) == 250
        if i == 2:  # closed as soon as it is spent, not left waiting
            assert down.conns[0].closed.wait(5)
    assert down.per_conn() == [3, 3, 1]
    assert [c.cmds[-1] for c in down.conns[:2]] == ["QUIT", "QUIT"]
