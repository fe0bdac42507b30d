"""quarctl release end to end through a real Postfix: the released message
reaches the recipient's file with its original body and the release header,
the store records the downstream answer per recipient; a refused or
unreachable reinjection marks nothing; releasing twice needs --force."""

import os
import re
import smtplib
import subprocess

import pytest

import ghtest
from qctest import QStore
from test_engines import EICAR

BODY = "first line of the original\r\n.a line with a dot\r\nlast line\r\n"


@pytest.fixture
def setup(workdir, postfix_factory):
    pf = postfix_factory()
    qs = QStore(os.path.join(workdir, "q"), forward_port=pf.reinject_port)
    msg = ghtest.make_message(subject="quarantined invoice", body=BODY, sender="boss@example.org",
                              message_id="<orig-1@example.org>")
    mid = qs.add("virus", msg, sender="boss@example.org", rcpts=("u@example.com", "v@example.com:pass"),
                 virus="Eicar-Test-Signature")
    return pf, qs, mid


def delivered_to(pf, rcpt):
    return [f for f in pf.delivered() if os.path.basename(f).split(".", 1)[1] == rcpt + ".eml"]


def test_release_delivers_original_with_header_and_marks_per_recipient(setup):
    pf, qs, mid = setup
    r = qs.run("release", mid)
    assert r.returncode == 0, r.stderr
    assert re.search(rb"released to u@example.com: 250 2\.0\.0 Ok: .*queued as [0-9A-F]+", r.stdout)
    files = pf.wait_delivered(1)
    assert len(files) == 1 and delivered_to(pf, "u@example.com")  # v@ had it (destiny pass)
    raw = open(files[0], "rb").read()
    assert ghtest.body_of(raw) == BODY.replace("\r\n", "\n").encode()
    msg = ghtest.parse_mail(files[0])
    rel = msg["X-Quarantine-Released"]
    assert rel and " by " in rel
    assert msg["Subject"] == "quarantined invoice"
    assert msg.get_all("Message-ID") == ["<orig-1@example.org>"]  # kept, not doubled
    qid = os.path.basename(files[0]).split(".", 1)[0]
    assert "%s: from=<boss@example.org>" % qid in pf.log()  # the original envelope sender
    row = qs.row(mid)
    assert row["state"] == "released"
    u, v = row["rcpts"]
    assert u["released_at"] > 0 and re.match(r"250 2\.0\.0 Ok: .*queued as [0-9A-F]+$", u["release_answer"])
    assert v["released_at"] == 0 and v["release_answer"] == ""
    ev = qs.sql("SELECT action, detail, result FROM events WHERE mail_id = ?", mid)
    assert ev == [("release", "u@example.com", "ok: " + u["release_answer"])]


def test_release_twice_needs_force_and_to_goes_elsewhere(setup):
    pf, qs, mid = setup
    qs.run("release", mid, check=True)
    pf.wait_delivered(1)
    r = qs.run("release", mid)
    assert r.returncode == 1 and b"already released" in r.stderr
    qs.run("release", "--force", "--to", "audit@example.net", mid, check=True)
    pf.wait_delivered(2)
    assert delivered_to(pf, "audit@example.net")
    r = qs.run("release", "--dry-run", "--force", mid, check=True)
    assert b"would release" in r.stdout
    assert len(qs.sql("SELECT * FROM events WHERE mail_id = ?", mid)) == 2  # a dry run writes none


def test_release_refused_by_downstream_marks_nothing(setup):
    pf, qs, mid = setup
    # the reinjection smtpd answers "try again later" to every recipient
    pf.postconf("-P", "127.0.0.1:%d/inet/smtpd_recipient_restrictions=defer" % pf.reinject_port)
    pf.stop()
    pf.start()
    r = qs.run("release", mid)
    assert r.returncode == 1
    assert re.search(rb"FAILED: 450 4\.\d\.\d <u@example.com>: Recipient address rejected: Try again later", r.stderr)
    assert b"nothing marked" in r.stderr
    row = qs.row(mid)
    assert row["state"] == "quarantined"
    assert all(x["released_at"] == 0 and x["release_answer"] == "" for x in row["rcpts"])
    ev = qs.sql("SELECT result FROM events WHERE mail_id = ? ORDER BY id DESC LIMIT 1", mid)
    assert ev[0][0].startswith("450 4.")
    assert pf.delivered() == []


def test_release_with_reinjection_down_marks_nothing(setup):
    pf, qs, mid = setup
    pf.reinject_down()
    r = qs.run("release", mid)
    assert r.returncode == 1
    assert b"cannot reach 127.0.0.1:%d" % pf.reinject_port in r.stderr and b"nothing marked" in r.stderr
    assert qs.row(mid)["state"] == "quarantined"
    # back up: the same release now works
    pf.reinject_up()
    qs.run("release", mid, check=True)
    pf.wait_delivered(1)
    assert qs.row(mid)["state"] == "released"


def test_release_refused_at_data_marks_nothing(setup):
    """Recipients accepted (250) but the data refused: still nothing marked.
    (smtpc sends DATA, never BDAT: the refusal is the reply to DATA.)"""
    pf, qs, mid = setup
    pf.postconf("-P", "127.0.0.1:%d/inet/smtpd_data_restrictions=defer" % pf.reinject_port)
    pf.stop()
    pf.start()
    r = qs.run("release", mid)
    assert r.returncode == 1 and b"FAILED: " in r.stderr and b"nothing marked" in r.stderr
    assert re.search(rb"FAILED: [45]\d\d ", r.stderr)
    row = qs.row(mid)
    assert row["state"] == "quarantined" and all(x["released_at"] == 0 for x in row["rcpts"])
    assert pf.delivered() == []


def test_release_notify_queues_and_delivers_a_release_notice(setup):
    """--notify queues a release notice (templates/release) in notify's
    durable outbox; scand-notify send-pending (scand's sender thread in
    production) delivers it to the recipient the message went to."""
    pf, qs, mid = setup
    with open(qs.conf, "a") as f:
        f.write("[notify]\nforward = 127.0.0.1:%d\nshipped_dir = %s\n"
                % (pf.reinject_port, os.path.join(ghtest.ROOT, "templates")))
    r = qs.run("release", "--notify", mid)
    assert r.returncode == 0, r.stderr
    assert b"release notice queued for 1 recipient(s)" in r.stdout
    sent = subprocess.run([os.path.join(ghtest.BIN, "scand-notify"), "-c", qs.conf, "send-pending"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert sent.returncode == 0, sent.stdout
    pf.wait_delivered(1)  # the released message
    notices = pf.wait_delivered(1, alerts=True)  # and the notice, both to u@
    assert len(notices) == 1 and len(delivered_to(pf, "u@example.com")) == 1
    assert os.path.basename(notices[0]).endswith(".u@example.com.eml")
    notice = ghtest.parse_mail(notices[0])
    assert notice["To"].addresses[0].addr_spec == "u@example.com"
    assert mid in notice.get_content()


# ---- through common/smtpc, against a recording sink ----

RAW = (b"From: boss@example.org\r\n"
       b"To: u@example.com\r\n"
       b"Subject: no id, no date\r\n"
       b"X-Folded: one\r\n\ttwo\r\n"
       b"\r\n"
       b".starts with a dot\r\n"
       b"caf\xc3\xa9 8-bit\r\n"
       b"no final line end")


def test_release_sends_the_file_unchanged_but_the_trace_header(workdir, sink):
    """A message without Message-ID and Date arrives with neither added:
    the bytes are the quarantined file's, after one X-Quarantine-Released
    field on top (and the CRLF that ends the last line for the SMTP
    terminator). The stored client goes as XFORWARD, the 8-bit body
    as BODY=8BITMIME."""
    qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
    mid = qs.add("virus", RAW, sender="boss@example.org", rcpts=("u@example.com",), virus="Eicar-Test-Signature")
    qs.sql("UPDATE msgs SET client_addr = '192.0.2.7', client_name = 'mx.example.org', client_helo = 'mx7' "
           "WHERE mail_id = ?", mid)
    r = qs.run("release", mid)
    assert r.returncode == 0, r.stderr
    [t] = sink.messages()
    first, rest = t.data.split(b"\r\n", 1)
    assert re.match(rb"X-Quarantine-Released: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} by \S+$", first)
    assert rest == RAW + b"\r\n"
    assert b"message-id" not in t.data.lower() and b"\ndate:" not in t.data.lower()
    assert t.mail == "MAIL FROM:<boss@example.org> SIZE=%d BODY=8BITMIME" % len(t.data)
    assert t.rcpts == ["u@example.com"]
    assert t.xforward == {"NAME": "mx.example.org", "ADDR": "192.0.2.7", "HELO": "mx7"}
    u = qs.row(mid)["rcpts"][0]
    assert u["released_at"] > 0 and u["release_answer"] == "250 2.0.0 Ok: queued as SINK1"


def test_release_refused_for_one_recipient_resumes_without_force(workdir, sink):
    """One recipient refused (5xx): the other is served and marked with its
    answer, the refused one is not; the next release without --force goes
    to the refused one only and finishes the message."""
    sink.rcpt_reply = ghtest.refuse_once("w@example.com", "550 5.1.1 <w@example.com>: no such user here")
    qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
    mid = qs.add("virus", RAW, sender="boss@example.org", rcpts=("u@example.com", "w@example.com"),
                 virus="Eicar-Test-Signature")
    r = qs.run("release", mid)
    assert r.returncode == 1
    assert b"released to u@example.com: 250 2.0.0 Ok: queued as SINK1 (some recipients refused)" in r.stderr
    row = qs.row(mid)
    assert row["state"] == "quarantined"
    u, w = row["rcpts"]
    assert u["released_at"] > 0 and u["release_answer"] == "250 2.0.0 Ok: queued as SINK1"
    assert w["released_at"] == 0 and w["release_answer"] == ""
    r = qs.run("release", mid)
    assert r.returncode == 0, r.stderr
    assert [t.rcpts for t in sink.messages()] == [["u@example.com"], ["w@example.com"]]
    row = qs.row(mid)
    assert row["state"] == "released"
    assert row["rcpts"][1]["release_answer"] == "250 2.0.0 Ok: queued as SINK2"
    ev = qs.sql("SELECT detail, result FROM events WHERE mail_id = ? ORDER BY id", mid)
    assert ev == [("u@example.com", "ok: 250 2.0.0 Ok: queued as SINK1"),
                  ("w@example.com", "ok: 250 2.0.0 Ok: queued as SINK2")]


def test_release_to_a_downstream_that_is_down_marks_nothing(workdir, sink):
    """A downstream that answers 421 at the greeting: a clear error naming
    it and its words, exit 1, nothing marked, the attempt in the audit
    trail; nothing was sent."""
    sink.down = True
    qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
    mid = qs.add("virus", RAW, sender="boss@example.org", rcpts=("u@example.com",), virus="Eicar-Test-Signature")
    r = qs.run("release", mid)
    assert r.returncode == 1
    assert re.search(rb"release to u@example.com FAILED: cannot reach 127\.0\.0\.1:%d: greeting: 421 4\.3\.2 down "
                     rb"\(nothing marked\)" % sink.port, r.stderr), r.stderr
    row = qs.row(mid)
    assert row["state"] == "quarantined" and row["rcpts"][0]["released_at"] == 0
    ev = qs.sql("SELECT detail, result FROM events WHERE mail_id = ?", mid)
    assert len(ev) == 1 and ev[0][0] == "u@example.com" and ev[0][1].startswith("cannot reach")
    assert sink.messages() == []


def test_release_passes_the_original_dsn_parameters(workdir, sink):
    """The DSN parameters scand kept with the verdict go out with the
    release as they came (the downstream offers DSN): RET and ENVID on MAIL,
    NOTIFY and ORCPT on each original recipient's RCPT; a recipient that
    gave none gets none, and so does a --to address."""
    qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
    mid = qs.add("virus", RAW, sender="boss@example.org", rcpts=("u@example.com", "w@example.com"),
                 virus="Eicar-Test-Signature")
    qs.sql("UPDATE msgs SET dsn_ret = 'HDRS', dsn_envid = 'env+2Bid-7' WHERE mail_id = ?", mid)
    qs.sql("UPDATE msgrcpt SET dsn_notify = 'SUCCESS,DELAY', dsn_orcpt = 'rfc822;U@example.com' "
           "WHERE addr = 'u@example.com'")
    r = qs.run("release", mid)
    assert r.returncode == 0, r.stderr
    [t] = sink.messages()
    assert t.mail.endswith(" RET=HDRS ENVID=env+2Bid-7"), t.mail
    assert t.rcpt_lines == ["RCPT TO:<u@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;U@example.com",
                            "RCPT TO:<w@example.com>"]
    qs.run("release", "--force", "--to", "audit@example.net", mid, check=True)
    assert sink.messages()[1].rcpt_lines == ["RCPT TO:<audit@example.net>"]


def test_scand_keeps_the_dsn_parameters_and_release_sends_them(workdir, sink, scand_factory):
    """scand records the client's RET, ENVID, NOTIFY and ORCPT with the
    verdict of a quarantined message, and quarctl's release (the same
    downstream, scand's own configuration) sends them on."""
    sd = scand_factory(sink.port)
    body = ("X-Test: dsn\r\n\r\n" + EICAR.decode() + "\r\n").encode()
    with smtplib.SMTP("127.0.0.1", sd.port, timeout=30) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("dsn")
        s.sendmail("alice@example.org", ["bob@example.com"], body,
                   mail_options=["RET=FULL", "ENVID=q+2Benv"],
                   rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;Bob@example.com"])
    qs = QStore(os.path.join(workdir, "qc"), scand=sd)
    [m] = ghtest.wait_for(lambda: qs.json("list"), timeout=30, what="the quarantined row")
    assert qs.sql("SELECT dsn_ret, dsn_envid FROM msgs WHERE mail_id = ?", m["mail_id"]) == [("FULL", "q+2Benv")]
    assert qs.sql("SELECT dsn_notify, dsn_orcpt FROM msgrcpt") == [("FAILURE", "rfc822;Bob@example.com")]
    def released():  # the sink also gets scand's alerts (from <>)
        return [t for t in sink.messages() if b"X-Quarantine-Released: " in t.data]

    assert not [t for t in sink.messages() if "<alice@example.org>" in t.mail]  # the virus went nowhere
    r = qs.run("release", m["mail_id"])
    assert r.returncode == 0, r.stderr
    [t] = released()
    assert t.mail.endswith(" RET=FULL ENVID=q+2Benv"), t.mail
    assert t.rcpt_lines == ["RCPT TO:<bob@example.com> NOTIFY=FAILURE ORCPT=rfc822;Bob@example.com"]


def test_release_of_several_ids_shares_one_connection(workdir, sink):
    """quarctl release ID ID ID sends the messages over one kept smtpc
    connection (as scand reinjects), one transaction each."""
    qs = QStore(os.path.join(workdir, "q"), forward_port=sink.port)
    mids = [qs.add("virus", RAW, sender="boss@example.org", rcpts=("u%d@example.com" % i,),
                   virus="Eicar-Test-Signature") for i in range(3)]
    r = qs.run("release", *mids)
    assert r.returncode == 0, r.stderr
    assert [t.rcpts for t in sink.messages()] == [["u0@example.com"], ["u1@example.com"], ["u2@example.com"]], r.stderr
    assert sink.connections == 1, (sink.connections, r.stderr)
    assert all(qs.row(m)["state"] == "released" for m in mids)
