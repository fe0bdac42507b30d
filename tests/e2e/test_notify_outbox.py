"""The durable outbox.

Alerts are queued through the real path (notify_alerts + store_put via
`scand-notify simulate -q`) in a real SQLite file and delivered by the real
sender (libesmtp) to a real SMTP server on a kernel-chosen port: down,
deferring, refusing, slow. Every alert is identified by its Message-ID.
"""
import os
import signal
import sqlite3
import subprocess
import time

from notify_util import NOTIFY, TEMPLATES, SmtpSink, asan_env, free_port, notify, simulate, sink_conf, write_conf

FAST = "retry_min = 1s\nretry_max = 2s\nadmin_rate_limit = 1000\n"


def queue_alerts(conf, n_msgs, rcpts=("r1@example.org",)):
    """n_msgs virus verdicts, each with one admin and one alert per recipient."""
    expected = []
    for i in range(n_msgs):
        args = ["-C", "virus", "-s", "s%d@example.net" % i, "-v", "Eicar-Test-Signature", "-S", "msg %d" % i]
        for r in rcpts:
            args += ["-r", r]
        mail_id, alerts = simulate(conf, *args)
        expected += [(mail_id, k, r) for k, r in alerts]
    return expected


def db_rows(tmp_path):
    db = sqlite3.connect(os.path.join(str(tmp_path), "gatehouse.db"))
    rows = db.execute("SELECT mail_id, kind, rcpt, state, attempts, last_error, body, next_try FROM outbox "
                      "ORDER BY id").fetchall()
    db.close()
    return rows


def age_outbox(tmp_path, seconds):
    """Moves the queue's clock: every row was created and is due that much earlier."""
    db = sqlite3.connect(os.path.join(str(tmp_path), "gatehouse.db"))
    db.execute("UPDATE outbox SET created = created - ?1, next_try = next_try - ?1", (seconds,))
    db.commit()
    db.close()


def header_id(data):
    """The Message-Id field of a message's header block."""
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError("no Message-Id")


def message_ids(sink):
    return [header_id(data) for _, _, data in sink.messages]


def body_ids(rows):
    return [header_id(r[6]) for r in rows]


def test_down_then_up_delivers_each_alert_exactly_once(tmp_path):
    port = free_port()
    conf = write_conf(tmp_path, "retry_min = 60s\nretry_max = 1h\n", port=port)
    expected = queue_alerts(conf, 10)
    assert len(expected) == 20
    # downstream down: nothing sent, nothing lost
    out = notify(conf, "send-pending").stdout.decode()
    assert out.startswith("sent 0, deferred 20, failed 0")
    rows = db_rows(tmp_path)
    assert len(rows) == 20
    assert all(r[3] == "pending" and r[4] == 1 and r[5] for r in rows)
    # not yet due again: a run does nothing
    out = notify(conf, "send-pending").stdout.decode()
    assert out.startswith("sent 0, deferred 0")
    assert all(50 <= r[7] - time.time() <= 61 for r in db_rows(tmp_path))  # backoff: retry_min
    sink = SmtpSink(port=port).start()
    try:
        age_outbox(tmp_path, 60)  # a minute passes
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 20, deferred 0, failed 0"), out
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 0, deferred 0, failed 0"), out
        assert sink.count() == 20
        ids = message_ids(sink)
        assert sorted(ids) == sorted(body_ids(db_rows(tmp_path)))
        assert len(set(ids)) == 20
        assert all(mf == "<>" for mf, _, _ in sink.messages)
        got = sorted(rc[0].strip("<>") for _, rc, _ in sink.messages)
        assert got == sorted(r for _, _, r in expected)
        assert all(r[3] == "sent" for r in db_rows(tmp_path))
    finally:
        sink.stop()


def test_tempfail_retries_and_5xx_fails_with_reason(tmp_path):
    sink = SmtpSink(code=451).start()
    sink.per_rcpt["r2@example.org"] = 550
    conf = write_conf(tmp_path, FAST, port=sink.port)
    try:
        queue_alerts(conf, 1, rcpts=("r1@example.org", "r2@example.org"))
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 0, deferred 2, failed 1"), out
        rows = {r[2]: r for r in db_rows(tmp_path)}
        assert rows["r2@example.org"][3] == "failed" and "550" in rows["r2@example.org"][5]
        assert rows["r1@example.org"][3] == "pending" and "451" in rows["r1@example.org"][5]
        sink.code = 250
        time.sleep(1.2)
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 2, deferred 0, failed 0"), out
        assert sink.count() == 2
        rows = {r[2]: r for r in db_rows(tmp_path)}
        assert rows["r2@example.org"][3] == "failed"  # a 5xx is final
        assert rows["r1@example.org"][3] == "sent" and rows["r1@example.org"][4] == 2
    finally:
        sink.stop()


def test_give_up_after(tmp_path):
    conf = write_conf(tmp_path, "retry_min = 1s\nretry_max = 1s\ngive_up_after = 60s\n", port=free_port())
    queue_alerts(conf, 1)
    db = sqlite3.connect(os.path.join(str(tmp_path), "gatehouse.db"))
    db.execute("UPDATE outbox SET created = created - 61")
    db.commit()
    db.close()
    out = notify(conf, "send-pending").stdout.decode()
    assert out.startswith("sent 0, deferred 0, failed 2"), out
    assert all(r[3] == "failed" and r[5] for r in db_rows(tmp_path))


def test_sigkill_mid_send_loses_nothing(tmp_path):
    sink = SmtpSink(delay=0.15).start()
    conf = write_conf(tmp_path, FAST, port=sink.port)
    try:
        queue_alerts(conf, 10)
        env = asan_env(detect_leaks=0)
        p = subprocess.Popen([NOTIFY, "-c", conf, "-T", TEMPLATES, "run"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while sink.count() < 5 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.07)  # inside the next transfer
        p.send_signal(signal.SIGKILL)
        p.wait()
        before = sink.count()
        assert 5 <= before < 20, before
        pending = [r for r in db_rows(tmp_path) if r[3] == "pending"]
        assert pending, "the kill must leave work"
        sink.delay = 0
        time.sleep(1.2)  # the killed sender's claim (retry_min) runs out
        out = notify(conf, "send-pending").stdout.decode()
        assert "failed 0" in out
        rows = db_rows(tmp_path)
        assert all(r[3] == "sent" for r in rows)
        ids = message_ids(sink)
        want = body_ids(rows)
        assert set(ids) == set(want) and len(want) == 20  # none lost
        assert len(ids) - len(set(ids)) <= 1  # at most the one in flight twice
    finally:
        sink.stop()


def test_sender_thread_stops_cleanly_on_sigterm(tmp_path):
    with sink_conf(tmp_path, FAST) as (sink, conf):
        queue_alerts(conf, 2)
        p = subprocess.Popen([NOTIFY, "-c", conf, "-T", TEMPLATES, "run"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=asan_env())
        deadline = time.time() + 20
        while sink.count() < 4 and time.time() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        assert sink.count() == 4


def test_admin_rate_limit_folds_excess_into_one_summary(tmp_path):
    with sink_conf(tmp_path, "admin_rate_limit = 3\nwarn_virus_recipient = no\n") as (sink, conf):
        expected = queue_alerts(conf, 10)
        assert [k for _, k, _ in expected] == ["virus-admin"] * 10
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 3, deferred 0, failed 0, folded 7, summaries 1"), out
        out = notify(conf, "send-pending").stdout.decode()
        assert out.startswith("sent 1, deferred 0, failed 0, folded 0, summaries 0"), out
        assert sink.count() == 4
        summary = sink.messages[-1][2]
        assert b"folded" in summary.split(b"\r\n\r\n")[0]
        folded = [mid for mid, _, _ in expected[3:]]
        import email.parser
        import email.policy
        m = email.parser.BytesParser(policy=email.policy.default).parsebytes(summary)
        text = m.get_body(("plain",)).get_content()
        for mid in folded:
            assert mid in text
        rows = db_rows(tmp_path)
        assert sum(1 for r in rows if r[5].startswith("folded into summary")) == 7
        assert all(r[3] == "sent" for r in rows)


def test_real_postfix_downstream_down_then_up(postfix_factory, tmp_path):
    """The reinjection smtpd of a private Postfix as [notify] forward."""
    import ghtest
    pf = postfix_factory()
    conf = write_conf(tmp_path, FAST, port=pf.reinject_port)
    pf.reinject_down()
    expected = queue_alerts(conf, 10)
    assert len(expected) == 20
    out = notify(conf, "send-pending").stdout.decode()
    assert out.startswith("sent 0, deferred 20, failed 0"), out
    pf.reinject_up()
    time.sleep(1.2)
    out = notify(conf, "send-pending").stdout.decode()
    assert out.startswith("sent 20, deferred 0, failed 0"), out
    files = pf.wait_delivered(20, alerts=True)
    time.sleep(0.5)
    files = pf.delivered(alerts=True)
    assert pf.delivered() == []  # nothing but alerts
    assert len(files) == 20
    ids = []
    for f in files:
        m = ghtest.parse_mail(f)
        assert not m.defects
        assert str(m["auto-submitted"]) == "auto-generated"
        ids.append(str(m["message-id"]).encode())
    want = body_ids(db_rows(tmp_path))
    assert sorted(ids) == sorted(want) and len(set(ids)) == 20
    assert "from=<>" in pf.log()


def test_queue_release_notice_for_stored_message(tmp_path):
    """`scand-notify queue release MAIL_ID` (what quarctl does after a
    release) queues the notice; the sender delivers it."""
    with sink_conf(tmp_path, FAST) as (sink, conf):
        mail_id, _ = simulate(conf, "-C", "virus", "-s", "a@example.net", "-r", "r1@example.org",
                              "-v", "Eicar-Test-Signature", "-S", "quarterly report")
        assert notify(conf, "send-pending").stdout.decode().startswith("sent 2,")
        out = notify(conf, "queue", "release", mail_id).stdout.decode()
        assert out == "release <r1@example.org> queued\n"
        assert notify(conf, "send-pending").stdout.decode().startswith("sent 1,")
        mf, rcpts, data = sink.messages[-1]
        assert mf == "<>" and rcpts == ["<r1@example.org>"]
        assert b"Released from quarantine: quarterly report" in data
        rows = [r for r in db_rows(tmp_path) if r[1] == "release"]
        assert len(rows) == 1 and rows[0][0] == mail_id and rows[0][3] == "sent"


def test_two_senders_send_each_alert_once(tmp_path):
    """scand's sender thread and a manual run at the same time: each row is
    claimed by one of them."""
    sink = SmtpSink(delay=0.02).start()
    conf = write_conf(tmp_path, "retry_min = 30s\nadmin_rate_limit = 1000\n", port=sink.port)
    procs = []
    try:
        queue_alerts(conf, 10)
        for _ in range(2):
            procs.append(subprocess.Popen([NOTIFY, "-c", conf, "-T", TEMPLATES, "run"], env=asan_env(),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 30
        while time.time() < deadline and not all(r[3] == "sent" for r in db_rows(tmp_path)):
            time.sleep(0.1)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(timeout=20) == 0
        assert all(r[3] == "sent" and r[4] == 1 for r in db_rows(tmp_path))
        ids = message_ids(sink)
        assert len(ids) == 20 and len(set(ids)) == 20
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        sink.stop()
