"""scand decides on the downstream's reply codes, and a reply out of place
in the dialogue is a 451 for the client.

The downstream is test_fwdconn's scripted SMTP server. Out of place: a
class the step cannot have (2xx to DATA, 354 to RCPT or MAIL, 3xx to the
end of data), a code outside 2xx-5xx, garbage, or a multi-line reply whose
lines carry different codes. Whatever the downstream did with the message,
scand cannot know it was delivered: the client is told 451 (retry), never
250 (which would lose it) and scand stays up for the next message.
"""

import smtplib

import pytest

import ghtest
import smtpsink
from test_fwdconn import Downstream, send, start_scand

OUT_OF_PLACE = [
    ("mail", "354 go ahead"),
    ("rcpt", "354 go ahead"),
    ("rcpt", "250-2.1.5 Ok\r\n550 5.1.1 no such user"),
    ("data", "250 2.0.0 Ok: queued as LOST"),
    ("data", "220 ready"),
    ("final", "354 more please"),
    ("final", "399 what"),
    ("final", "this is not a reply"),
    ("final", "25 short"),
    ("final", "650 6.0.0 no such class"),
    ("final", "250-2.0.0 Ok\r\n550 5.0.0 but no"),
    ("final", "550-5.0.0 No\r\n250 2.0.0 but yes"),
]


def send_checked(sd, n):
    """send(), with scand's log in the failure when it hung up on the client."""
    try:
        return send(sd, n)
    except smtplib.SMTPServerDisconnected:
        sd.proc.wait(5)
        pytest.fail("scand hung up (exit %s):\n%s" % (sd.proc.returncode, sd.log()[-1200:]))


@pytest.mark.parametrize("step,reply", OUT_OF_PLACE,
                         ids=["%s:%s" % (s, r.replace("\r\n", "|")) for s, r in OUT_OF_PLACE])
def test_reply_out_of_place_is_451(step, reply, scand_factory):
    down = Downstream()
    try:
        getattr(down, step)[1] = reply
        sd = start_scand(scand_factory, down)
        assert send_checked(sd, 1) == 451
        assert sd.proc.poll() is None, "scand died:\n" + sd.log()[-3000:]
        assert send_checked(sd, 2) == 250  # alive, and the next message goes through
        assert sd.proc.poll() is None
    finally:
        down.close()


def test_lmtp_client_gets_451_per_recipient(scand_factory):
    """2xx to DATA with an LMTP client: each recipient hears 451."""
    down = Downstream()
    try:
        down.data[1] = "250 2.0.0 Ok: queued as LOST"
        sd = start_scand(scand_factory, down)
        c = smtpsink.Client(sd.port)
        assert c.reply()[0] == 220
        assert c.cmd("LHLO client.example")[0] == 250
        c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(ghtest.make_message() + b".\r\n")
        replies = [c.reply() for _ in range(2)]
        assert [r[0] for r in replies] == [451, 451], replies
        assert c.cmd("NOOP")[0] == 250
        c.close()
        assert sd.proc.poll() is None
    finally:
        down.close()


def test_downstream_refusals_still_pass_through(scand_factory):
    """Replies in place keep their meaning: 5xx to the end of data is the
    client's 5xx, 4xx its 451."""
    down = Downstream()
    try:
        down.final[1] = "554 5.7.1 rejected by policy"
        down.final[2] = "452 4.3.1 out of space"
        down.data[3] = "554 5.5.1 no thanks"
        sd = start_scand(scand_factory, down)
        assert send(sd, 1) == 554
        assert send(sd, 2) == 451
        assert send(sd, 3) == 554
        assert send(sd, 4) == 250
    finally:
        down.close()

