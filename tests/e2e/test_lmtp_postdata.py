"""LMTP after the data: one reply per accepted recipient, whatever the outcome
(RFC 2033), with real Postfix as the LMTP client.

Postfix's LMTP client pipelines QUIT behind the final dot and then reads
one reply per recipient. A server that answers once (a spool failure, an
over-size message) leaves the 221 to QUIT to be read as the second
recipient's answer: Postfix marks that recipient delivered and the mail is
lost. These tests send one message to three recipients through
Postfix -> scand (LHLO) -> reinjection and check, in Postfix's log and in
the delivered files, that every recipient is deferred or bounced by scand's
own answer and none is marked sent without its copy.

  work dir full   spool_memory_limit small, work_dir a full tmpfs: 451 to
                  each recipient; delivered once each when space returns.
  over size       a message whose SIZE= is under message_size_limit but
                  whose data on the wire is over it (Postfix breaks long
                  lines with CR LF SPACE after declaring the size): 552 to
                  each recipient, all three bounced, none delivered.
"""

import glob
import os
import re

import ghtest
from test_faults import Tmpfs

RCPTS = ["bob@example.com", "carol@example.com", "dave@example.com"]


def lmtp_wire(postfix_factory, scand_factory, scand_sections):
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="lmtp", filter_port=sport, reinject_port=reinject)
    sd = scand_factory(reinject, port=sport, start=False, sections={"scand": scand_sections})
    return pf, sd


def filter_statuses(pf, sd):
    """Recipient -> the statuses Postfix logged for deliveries to scand, in order."""
    out = {}
    pat = re.compile(r"to=<([^>]+)>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d,.*? status=(\w+) \((.*)\)$" % sd.port)
    for line in pf.log().splitlines():
        m = pat.search(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2), m.group(3)))
    return out


def copies(pf, rcpt, mid):
    """Delivered copies of the message with Message-ID mid for rcpt."""
    n = 0
    for f in glob.glob(os.path.join(pf.maildir, "*.%s.eml" % rcpt)):
        with open(f, "rb") as fh:
            n += ("Message-ID: %s" % mid).encode() in fh.read()
    return n


def all_answered(pf, sd, final=False):
    """The statuses once every recipient has one (a final one with final=True)."""
    st = filter_statuses(pf, sd)
    ok = all(r in st and (not final or st[r][-1][0] in ("sent", "bounced")) for r in RCPTS)
    return st if ok else None


def test_lmtp_work_dir_full_defers_every_recipient(postfix_factory, scand_factory):
    pf, sd = lmtp_wire(postfix_factory, scand_factory, {"spool_memory_limit": "16k"})
    fs = Tmpfs(sd.work)
    try:
        sd.start()
        fs.fill()
        mid = "<lmtp-workfull@gh-test>"
        pf.send("alice@example.org", RCPTS,
                ghtest.make_message(message_id=mid, body="a line of a large message\r\n" * 4000))
        st = ghtest.wait_for(lambda: all_answered(pf, sd), timeout=60,
                             what="Postfix's status for every recipient (log:\n%s)" % pf.log()[-3000:])
        for r in RCPTS:
            status, why = st[r][0]
            assert status == "deferred" and "451 4.3.0 Error: local spool failure" in why, \
                "%s: status=%s (%s)" % (r, status, why)
        assert not any(copies(pf, r, mid) for r in RCPTS)
        fs.free()
        pf.flush()
        ghtest.wait_for(lambda: all(copies(pf, r, mid) == 1 for r in RCPTS) and not pf.queue_ids(), timeout=60,
                        what="one copy per recipient once space returned (statuses: %s)" % filter_statuses(pf, sd))
        st = filter_statuses(pf, sd)
        assert all(st[r][-1][0] == "sent" for r in RCPTS), st
        assert all(copies(pf, r, mid) == 1 for r in RCPTS)
    finally:
        sd.stop()
        fs.umount()


def test_lmtp_over_size_after_data_bounces_every_recipient(postfix_factory, scand_factory):
    # Postfix breaks lines longer than lmtp_line_length_limit (998) with
    # CR LF SPACE on the way out, after it has declared SIZE=: 100 lines of
    # 9990 bytes are declared as about len + 1450 bytes (its Received: field
    # and record overhead) and arrive as about len + 3150. The limit sits
    # between the two, so MAIL FROM ... SIZE= passes and the data is over.
    mid = "<lmtp-oversize@gh-test>"
    msg = ghtest.make_message(message_id=mid, body=("x" * 9990 + "\r\n") * 100)
    pf, sd = lmtp_wire(postfix_factory, scand_factory, {"message_size_limit": str(len(msg) + 2300)})
    sd.start()
    pf.send("alice@example.org", RCPTS, msg)
    st = ghtest.wait_for(lambda: all_answered(pf, sd, final=True), timeout=60,
                         what="a final status for every recipient (log:\n%s)" % pf.log()[-3000:])
    for r in RCPTS:
        assert [s for s, _ in st[r]] == ["bounced"], "%s: %s" % (r, st[r])
        why = st[r][0][1]
        # the post-DATA path, not a refusal of MAIL FROM ... SIZE=
        assert "552 5.3.4" in why and "in reply to end of DATA command" in why, (r, st)
    assert not any(copies(pf, r, mid) for r in RCPTS)
    # the bounce to the sender is built and delivered after the last
    # status=bounced is logged: the queue empties then
    ghtest.wait_for(lambda: not pf.queue_ids(), timeout=30, what="the queue empty (bounce delivered)")
