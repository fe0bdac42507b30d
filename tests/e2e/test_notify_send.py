"""notify's one libesmtp sender (notify/send.c) and the outbox on top of it.

- The admin summary names each folded alert by its Subject as read by
  common/mailhdr (unfolded, then RFC 2047 decoded): an encoded, folded
  Subject shows as the text it stands for.
- An address that could end the SMTP command is refused before anything is
  sent, and the alert fails at once (5xx class) instead of being retried.
- A 4xx to the data is kept as last_error with the step that failed, and
  the row is retried (sent once the downstream takes it).
"""
import email.parser
import email.policy
import os
import sqlite3
import time

from notify_util import notify, simulate, sink_conf

SENDER = "jürgen.田中@example.net"  # no 8-bit charset holds both: the body stays UTF-8


def rows(tmp_path):
    db = sqlite3.connect(os.path.join(str(tmp_path), "gatehouse.db"))
    r = db.execute("SELECT id, kind, rcpt, state, last_error, body FROM outbox ORDER BY id").fetchall()
    db.close()
    return r


def test_summary_lists_decoded_subjects_of_folded_alerts(tmp_path):
    virus = "Eicar-Test-Signature,Win.Trojan.Agent-%s" % ("x" * 40)
    with sink_conf(tmp_path, "admin_rate_limit = 1\nwarn_virus_recipient = no\n") as (sink, conf):
        mids = [simulate(conf, "-C", "virus", "-s", SENDER, "-v", virus, "-S", "m%d" % i, "-r", "r@example.org")[0]
                for i in range(3)]
        raw = rows(tmp_path)[1][5]
        head = raw.split(b"\r\n\r\n", 1)[0]
        subj = head[head.index(b"\r\nSubject:"):].split(b"\r\n")[1:3]
        # the stored Subject is encoded and folded: the walker must unfold it
        assert b"=?" in b"".join(subj) and subj[1][:1] in (b" ", b"\t"), head
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 1, deferred 0, failed 0, folded 2, summaries 1"), out
        out = notify(conf, "send-pending").stdout.decode()  # the summary, queued by the run before
        assert out.startswith("sent 1, deferred 0, failed 0, folded 0, summaries 0"), out
        m = email.parser.BytesParser(policy=email.policy.default).parsebytes(sink.messages[-1][2])
        assert "folded" in m["Subject"]
        text = m.get_body(("plain",)).get_content()
        for mid in mids[1:]:
            # the names are a list (as scand stores them), joined with ", " in running text
            line = "virus-admin %s: [mx.example.org] VIRUS (%s) from %s" % (mid, ", ".join(virus.split(",")), SENDER)
            assert line in text, text


def test_bad_address_is_refused_before_sending(tmp_path):
    with sink_conf(tmp_path, "retry_min = 1s\n") as (sink, conf):
        simulate(conf, "-C", "virus", "-s", "s@example.net", "-v", "Eicar-Test-Signature", "-r", "r@example.org")
        db = sqlite3.connect(os.path.join(str(tmp_path), "gatehouse.db"))
        db.execute("UPDATE outbox SET rcpt = 'a@example.org>\r\nRCPT TO:<b@example.org'")
        db.commit()
        db.close()
        n = len(rows(tmp_path))
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 0, deferred 0, failed %d" % n), out
        assert all(r[3] == "failed" and r[4].startswith('bad address "a@example.org>') for r in rows(tmp_path))
        assert sink.count() == 0


def test_refused_recipient_keeps_step_and_answer(tmp_path):
    with sink_conf(tmp_path, "retry_min = 1s\nwarn_virus_recipient = no\n") as (sink, conf):
        sink.per_rcpt["postmaster@mx.example.org"] = 451  # the admin alert's address
        simulate(conf, "-C", "virus", "-s", "s@example.net", "-v", "Eicar-Test-Signature", "-r", "r@example.org")
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 0, deferred 1, failed 0"), out
        [r] = rows(tmp_path)
        assert r[3] == "pending" and r[4] == "DATA: 451 4.7.1 sink says no", r
        sink.per_rcpt.clear()
        time.sleep(1.1)
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 1, deferred 0, failed 0"), out
