"""The end of the data found however it is split across reads.

scand reads DATA in chunks of what the socket has; the end marker
'.' CR LF (after a CR LF) and a dot-stuffed '..' line may arrive cut
anywhere: a '.' alone at the end of a read must be neither taken for
dot-stuffing nor for the end until the next bytes show which it is.

Each case sends a message in pieces with a pause between them (TCP_NODELAY,
so each piece is its own read on scand's side), and checks the answer, the
session after it (NOOP) and the message at the downstream sink byte for
byte. The read-buffer edge cases (scand reads 64 KiB at a time) stop scand
(SIGSTOP) while the first 65,533-65,535 bytes and the start of the marker
are queued, so that one read fills the buffer exactly up to the cut.
"""

import signal
import socket
import time

import pytest

import ghtest
from test_protocol import XVS, session

PAUSE = 0.15
RBUF = 65536  # scand's read buffer (common/sockio.c SIO_RBUF)


@pytest.fixture
def scand(sink, scand_factory):
    # a missed end marker shows as a 421 after data_timeout, not a hang
    return scand_factory(sink.port, sections={"scand": {"data_timeout": "3s"}})


def compositions(b):
    """Every way to cut b into consecutive non-empty pieces."""
    n = len(b)
    for mask in range(2 ** (n - 1)):
        pieces, start = [], 0
        for i in range(1, n):
            if mask >> (i - 1) & 1:
                pieces.append(b[start:i])
                start = i
        pieces.append(b[start:])
        yield pieces


def message_of(size, subject):
    """A message of exactly size bytes ending with CR LF (no line starts with '.')."""
    head = ghtest.make_message(subject=subject, body="")
    room = size - len(head)
    assert room >= 2
    lines = []
    while room > 82:
        lines.append(b"y" * 78 + b"\r\n")
        room -= 80
    lines.append(b"z" * (room - 2) + b"\r\n")
    msg = head + b"".join(lines)
    assert len(msg) == size
    return msg


def send_split(sd, wire, cut, stop_first=False):
    """One transaction on a fresh session: the data (already stuffed, with
    its end marker) sent as wire[:cut[0]], wire[cut[0]:cut[1]], ...
    Returns (reply code, NOOP code or None)."""
    c, _ = session(sd.port)
    c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
        bounds = [0] + list(cut) + [len(wire)]
        for i in range(len(bounds) - 1):
            if i == 0 and stop_first:
                sd.signal(signal.SIGSTOP)
                try:
                    c.send(wire[:bounds[1]])
                    time.sleep(PAUSE)  # everything queued before scand reads again
                finally:
                    sd.signal(signal.SIGCONT)
            else:
                c.send(wire[bounds[i]:bounds[i + 1]])
            time.sleep(PAUSE)
        code, _ = c.reply()
        noop = c.cmd("NOOP")[0] if code != 421 else None
        return code, noop
    finally:
        c.close()


def cuts_of(pieces, offset):
    """Cut positions (from offset) for consecutive pieces."""
    out, pos = [], offset
    for p in pieces[:-1]:
        pos += len(p)
        out.append(pos)
    return out


def check(sink, sd, cases):
    """cases: [(label, wire, cuts, stop_first, expected message)]; all must be
    answered 250, stay in step, and arrive byte-exact."""
    bad = []
    for label, wire, cut, stop_first, want in cases:
        before = len(sink.messages())
        code, noop = send_split(sd, wire, cut, stop_first)
        got = sink.messages()[before:] if code == 250 else []
        data_ok = len(got) == 1 and got[0].data.split(b"\r\n", 1)[1] == want and got[0].data.startswith(XVS)
        if (code, noop) != (250, 250) or not data_ok:
            bad.append("%s: reply %s, NOOP %s, %s" % (label, code, noop,
                                                      "data intact" if data_ok else "data wrong or missing"))
    assert not bad, "\n".join(bad)
    assert ghtest._pid_alive(sd.proc.pid) and sd.proc.poll() is None


def test_end_marker_split_at_every_byte(scand, sink):
    msg = ghtest.make_message(subject="split end", body="one\r\ntwo")  # ends without CR LF: the tail adds it
    cases = []
    for pieces in compositions(b"\r\n.\r\n"):
        wire = msg + b"".join(pieces)
        cases.append(("|".join(repr(p)[2:-1] for p in pieces), wire, cuts_of(pieces, len(msg)), False,
                      msg + b"\r\n"))
    check(sink, scand, cases)


def test_dot_stuffed_line_split_at_every_byte(scand, sink):
    msg = ghtest.make_message(subject="split dots", body="one")
    cases = []
    # the line "..x" (".x" unstuffed) cut every way around its dots
    for pieces in compositions(b"\n..x\r"):
        wire = msg + b"\r" + b"".join(pieces) + b"\n.\r\n"
        cases.append(("\\r+" + "|".join(repr(p)[2:-1] for p in pieces), wire, cuts_of(pieces, len(msg) + 1),
                      False, msg + b"\r\n.x\r\n"))
    check(sink, scand, cases)


def test_end_marker_at_the_read_buffer_edge(scand, sink):
    cases = []
    for before in (RBUF - 3, RBUF - 2, RBUF - 1):
        msg = message_of(before, "edge %d" % before)
        for pieces in compositions(b".\r\n"):
            wire = msg + b"".join(pieces)
            cases.append(("%d+%s" % (before, "|".join(repr(p)[2:-1] for p in pieces)), wire,
                          cuts_of(pieces, before), True, msg))
    # a dot-stuffed line whose dots straddle the edge
    msg = message_of(RBUF - 1, "edge dots")
    for first in (1, 2):
        wire = msg + b"..x\r\n.\r\n"
        cases.append(("%d+%s|rest" % (RBUF - 1, "." * first), wire, [RBUF - 1 + first], True, msg + b".x\r\n"))
    check(sink, scand, cases)
