"""Alerts end to end: real Postfix -> scand (libclamav, policy, quarantine,
notify) -> outbox -> the sender thread -> Postfix's reinjection smtpd ->
delivery to files (issue 5, must-show 2 and 4).
"""
import os
import sqlite3
import time

import ghtest

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
ADMIN = "virus-admin@example.net"


def wire(postfix_factory, scand_factory, notify=None):
    reinject, sport = ghtest.free_port(), ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=sport, reinject_port=reinject)
    sections = {"notify": dict({"virus_admin": ADMIN, "retry_min": "1s"}, **(notify or {})),
                "scand": {"hostname": "mx.gh-test"}}
    sd = scand_factory(reinject, port=sport, sections=sections)
    return pf, sd


def delivered_to(pf):
    """{recipient: [parsed messages]} of everything delivered so far."""
    out = {}
    for f in pf.delivered(alerts=True) + pf.delivered():
        rcpt = os.path.basename(f).split(".", 1)[1][:-4]
        out.setdefault(rcpt, []).append(ghtest.parse_mail(f))
    return out


def verdict(sd, subject):
    db = sqlite3.connect(sd.db)
    row = db.execute("SELECT mail_id, quar_path, virus_names FROM msgs WHERE subject = ? AND category = 'virus'",
                     (subject,)).fetchone()
    outbox = db.execute("SELECT kind, rcpt, state FROM outbox WHERE mail_id = ? ORDER BY id",
                        (row[0],)).fetchall() if row else []
    db.close()
    return row, outbox


def test_eicar_alerts_admin_and_recipient_not_sender(postfix_factory, scand_factory):
    pf, sd = wire(postfix_factory, scand_factory)
    pf.send("alice@example.org", ["bob@example.com"],
            ghtest.make_message(subject="eicar one", body=EICAR + "\r\n"))
    pf.wait_delivered(2, timeout=60, alerts=True)
    time.sleep(1.5)  # anything more (a sender alert, the virus itself) would arrive by now
    got = delivered_to(pf)
    assert sorted(got) == sorted([ADMIN, "bob@example.com"]), sorted(got)
    (mail_id, qpath, virus), outbox = verdict(sd, "eicar one")
    assert qpath and "Eicar-Test-Signature" in virus
    assert sorted(k for k, _, _ in outbox) == ["virus-admin", "virus-recipient"]
    ghtest.wait_for(lambda: all(s == "sent" for _, _, s in verdict(sd, "eicar one")[1]), what="outbox sent")
    for rcpt, kind in ((ADMIN, "admin"), ("bob@example.com", "recipient")):
        (m,) = got[rcpt]
        assert str(m["auto-submitted"]) == "auto-generated"
        text = m.get_body(("plain",)).get_content()
        assert "Eicar-Test-Signature" in text and mail_id in text
        if kind == "admin":
            assert qpath in text
            assert [p.get_content_type() for p in m.walk()][-1] == "text/rfc822-headers"
    assert "from=<>" in pf.log()


def test_banned_name_with_rlo_is_spelled_out_in_alert_and_log(postfix_factory, scand_factory):
    """photo<RLO>gpj.exe shows as photoexe.jpg on a terminal or in a mail
    reader: the admin's and the recipient's alerts and scand's log line
    spell it out (<U+202E>); the raw character is nowhere."""
    pf, sd = wire(postfix_factory, scand_factory, notify={"banned_admin": ADMIN})
    msg = ghtest.make_message(
        subject="see photo", body="--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''photo%E2%80%AEgpj.exe\r\n\r\nMZ\r\n--b1--\r\n",
        extra_headers=("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"'))
    pf.send("alice@example.org", ["bob@example.com"], msg)
    pf.wait_delivered(2, timeout=60, alerts=True)
    got = delivered_to(pf)
    assert sorted(got) == sorted([ADMIN, "bob@example.com"]), sorted(got)
    for rcpt in (ADMIN, "bob@example.com"):
        (m,) = got[rcpt]
        text = m.get_body(("plain",)).get_content()
        assert "photo<U+202E>gpj.exe" in text and "\u202e" not in text, text
    assert "photo<U+202E>gpj.exe" in str(got[ADMIN][0]["subject"]) and "\u202e" not in str(got[ADMIN][0]["subject"])
    log = sd.log()
    line = next(ln for ln in log.splitlines() if "BANNED" in ln)
    assert "photo<U+202E>gpj.exe" in line and "\u202e" not in log, line


def test_eicar_from_null_sender_alerts_admin_only(postfix_factory, scand_factory):
    pf, sd = wire(postfix_factory, scand_factory, notify={"warn_virus_sender": "yes"})
    pf.send("", ["bob@example.com"], ghtest.make_message(subject="eicar bounce", body=EICAR + "\r\n"))
    pf.wait_delivered(1, timeout=60, alerts=True)
    time.sleep(1.5)
    assert sorted(delivered_to(pf)) == [ADMIN]
    _, outbox = verdict(sd, "eicar bounce")
    assert [k for k, _, _ in outbox] == ["virus-admin"]


def test_template_error_stops_scand_with_file_and_line(tmp_path, scand_factory):
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "virus-admin").write_text("Subject: x\n\nok\n{{virus_nmes}}\n")
    sd = scand_factory(ghtest.free_port(), start=False, sections={"notify": {"template_dir": str(tdir)}})
    sd.start(wait=False)
    assert sd.proc.wait(timeout=60) != 0
    assert "%s:4: unknown placeholder {{virus_nmes}}" % (tdir / "virus-admin") in sd.log()


def test_sighup_reloads_templates_and_keeps_old_on_error(tmp_path, postfix_factory, scand_factory):
    import signal
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    tpl = tdir / "virus-admin"
    tpl.write_text("Subject: first {{virus_names}}\n\nmail {{mail_id}}\n")
    pf, sd = wire(postfix_factory, scand_factory, notify={"template_dir": str(tdir)})

    def eicar_admin_subject(n, subject):
        pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject=subject, body=EICAR + "\r\n"))
        files = pf.wait_delivered(2 * n, timeout=60, alerts=True)
        subjects = [str(ghtest.parse_mail(f)["subject"]) for f in files]
        return [s for s in subjects if s.endswith("Eicar-Test-Signature") and not s.startswith("VIRUS")]

    assert eicar_admin_subject(1, "r1") == ["first Eicar-Test-Signature"]
    tpl.write_text("Subject: broken {{virus_name}}\n\nmail\n")
    sd.signal(signal.SIGHUP)
    ghtest.wait_for(lambda: "kept the old alert templates" in sd.log(), what="reload refused")
    assert "virus-admin:1: unknown placeholder {{virus_name}}" in sd.log()
    assert sorted(eicar_admin_subject(2, "r2")) == ["first Eicar-Test-Signature"] * 2
    tpl.write_text("Subject: second {{virus_names}}\n\nmail\n")
    n = sd.log().count("reloaded")
    sd.signal(signal.SIGHUP)
    ghtest.wait_for(lambda: sd.log().count("reloaded") > n, what="reload")
    assert sorted(eicar_admin_subject(3, "r3")) == ["first Eicar-Test-Signature"] * 2 + ["second Eicar-Test-Signature"]


def test_alerts_survive_reinjection_down_and_scand_sigkill(postfix_factory, scand_factory):
    """10 EICAR mails while the reinjection smtpd is down: 20 alerts wait in
    the outbox; scand is killed with SIGKILL; the downstream comes back and
    a new scand delivers every alert exactly once."""
    pf, sd = wire(postfix_factory, scand_factory, notify={"retry_max": "1s"})
    pf.reinject_down()
    for i in range(10):
        pf.send("alice@example.org", ["bob@example.com"],
                ghtest.make_message(subject="down %d" % i, body=EICAR + "\r\n"))

    def outbox():
        db = sqlite3.connect(sd.db)
        rows = db.execute("SELECT state, attempts FROM outbox").fetchall()
        db.close()
        return rows

    ghtest.wait_for(lambda: len(outbox()) == 20 and all(a >= 1 for _, a in outbox()), timeout=60,
                    what="20 alerts tried once")
    assert all(s == "pending" for s, _ in outbox())
    sd.kill()
    pf.reinject_up()
    sd.start()
    ghtest.wait_for(lambda: all(s == "sent" for s, _ in outbox()), timeout=60, what="all alerts sent")
    files = pf.wait_delivered(20, timeout=30, alerts=True)
    time.sleep(1)
    files = pf.delivered(alerts=True)
    ids = [str(ghtest.parse_mail(f)["message-id"]) for f in files]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert pf.delivered() == []  # the viruses themselves were discarded
