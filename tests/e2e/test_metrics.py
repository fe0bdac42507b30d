"""scand's /metrics page ([scand] metrics_listen): parsed with
prometheus_client's own parser, its counters compared with the rows of the
store after a mix of clean, virus, banned and spam mail (real libclamav,
real spamd), the HTTP answers other than GET /metrics, and nothing
listening when the key is empty."""

import base64
import http.client
import os
import shutil
import smtplib
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import ghtest

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CATEGORIES = ["clean", "spammy", "oversized", "badh", "spam", "unchecked", "banned", "virus"]
DESTINIES = ["pass", "discard", "bounce", "reject", "tempfail"]
FAMILIES = {
    "gatehouse_messages": "counter",
    "gatehouse_messages_destiny": "counter",
    "gatehouse_recipients": "counter",
    "gatehouse_received_bytes": "counter",
    "gatehouse_message_duration_seconds": "histogram",
    "gatehouse_sessions_in_flight": "gauge",
    "gatehouse_forward_errors": "counter",
    "gatehouse_store_errors": "counter",
    "gatehouse_signatures": "gauge",
    "gatehouse_signatures_age_seconds": "gauge",
    "gatehouse_store_commit_seconds": "histogram",
}
SIG_AGE = 3 * 86400


def banned_exe():
    b64 = base64.encodebytes(b"not really a program").decode().replace("\n", "\r\n")
    body = ("--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            'Content-Disposition: attachment; filename="setup.exe"\r\n\r\n%s--B--\r\n' % b64)
    return ghtest.make_message(subject="exe", body=body,
                               extra_headers=["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="B"'])


def mix():
    """(message, recipients): 3 clean (one to two recipients), 2 EICAR, a
    banned .exe, a GTUBE."""
    one = ["bob@example.com"]
    return [
        (ghtest.make_message(subject="clean 1", body="Lunch at noon?\r\n"), one),
        (ghtest.make_message(subject="clean 2", body="The minutes are on the wiki.\r\n"), one),
        (ghtest.make_message(subject="clean 3", body="Two of you.\r\n"), ["bob@example.com", "carol@example.com"]),
        (ghtest.make_message(subject="eicar 1", body=EICAR + "\r\n"), one),
        (ghtest.make_message(subject="eicar 2", body=EICAR + "\r\n"), one),
        (banned_exe(), one),
        (ghtest.make_message(subject="gtube", body=GTUBE + "\r\n"), one),
    ]


def send_all(port, messages):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        for raw, rcpts in messages:
            s.sendmail("alice@example.org", rcpts, raw)


def http_get(port, path="/metrics", method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=b"x=1" if method == "POST" else None)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def scrape(port):
    status, headers, text = http_get(port)
    assert status == 200, text
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return fams, text


def samples(fam, label=None, suffix=""):
    """{label value: sample value} (or {None: value}) of the samples named
    family name + suffix."""
    return {(s.labels.get(label) if label else None): s.value
            for s in fam.samples if s.name == fam.name + suffix}


def listening_ports(pid):
    """The TCP ports process pid listens on (its socket descriptors matched
    with the kernel's tables of listening sockets)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def old_signatures(workdir):
    """The project's signatures, copied with their files SIG_AGE old (the
    engine's date when the database does not carry one)."""
    d = os.path.join(workdir, "sigs")
    shutil.copytree(os.path.join(ghtest.ROOT, "signatures"), d)
    t = time.time() - SIG_AGE
    for f in os.listdir(d):
        os.utime(os.path.join(d, f), (t, t))
    return d


def wait_answers_written(db, nmsgs):
    """The answers writer (answers.c) stores the final destinies behind the
    replies: wait until every recipient row of the nmsgs messages has one."""
    ghtest.wait_for(lambda: ghtest.db_rows(db, "SELECT count(*) FROM msgs")[0][0] == nmsgs and
                    ghtest.db_rows(db, "SELECT count(*) FROM msgrcpt WHERE smtp_answer = ''")[0][0] == 0,
                    what="answers written")


@pytest.fixture
def metrics_scand(scand_factory, sink, spamd, workdir):
    mport = ghtest.free_port()
    sc = scand_factory(sink.port, sections={
        "scand": {"metrics_listen": "127.0.0.1:%d" % mport},
        "clamav": {"database_dirs": old_signatures(workdir)},
        "spam": {"enabled": "yes", "spamd": "127.0.0.1:%d" % spamd.port}})
    return sc, mport


def test_counters_match_the_store(metrics_scand, sink):
    sc, mport = metrics_scand
    fams, _ = scrape(mport)
    assert samples(fams["gatehouse_messages"], "category", "_total") == {c: 0 for c in CATEGORIES}
    messages = mix()
    send_all(sc.port, messages)
    wait_answers_written(sc.db, len(messages))
    ghtest.wait_for(lambda: samples(scrape(mport)[0]["gatehouse_sessions_in_flight"]) == {None: 0},
                    what="the session ended")
    fams, text = scrape(mport)

    # every family, with its HELP and TYPE
    for name, typ in FAMILIES.items():
        assert name in fams, name
        assert fams[name].type == typ, name
        assert fams[name].documentation, name
        assert "# TYPE %s%s %s\n" % (name, "_total" if typ == "counter" else "", typ) in text, name

    db = sc.db
    by_cat = dict(ghtest.db_rows(db, "SELECT category, count(*) FROM msgs GROUP BY category"))
    assert by_cat == {"clean": 3, "virus": 2, "banned": 1, "spam": 1}, by_cat
    assert samples(fams["gatehouse_messages"], "category", "_total") == \
        {c: float(by_cat.get(c, 0)) for c in CATEGORIES}

    by_rcpt = dict(ghtest.db_rows(db, "SELECT destiny, count(*) FROM msgrcpt GROUP BY destiny"))
    assert by_rcpt == {"pass": 4, "discard": 4}, by_rcpt
    assert samples(fams["gatehouse_recipients"], "destiny", "_total") == \
        {d: float(by_rcpt.get(d, 0)) for d in DESTINIES}
    by_msg = dict(ghtest.db_rows(db, "SELECT destiny, count(DISTINCT msg) FROM msgrcpt GROUP BY destiny"))
    assert samples(fams["gatehouse_messages_destiny"], "destiny", "_total") == \
        {d: float(by_msg.get(d, 0)) for d in DESTINIES}

    size = ghtest.db_rows(db, "SELECT sum(size) FROM msgs")[0][0]
    assert samples(fams["gatehouse_received_bytes"], None, "_total") == {None: float(size)}

    lat = fams["gatehouse_message_duration_seconds"]
    buckets = [(float(s.labels["le"]), s.value) for s in lat.samples if s.name.endswith("_bucket")]
    assert buckets[-1][0] == float("inf")
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets  # cumulative
    assert samples(lat, None, "_count") == {None: float(len(messages))}
    assert buckets[-1][1] == len(messages)
    assert 0 < samples(lat, None, "_sum")[None] < 60 * len(messages)

    commit = fams["gatehouse_store_commit_seconds"]
    ntx = samples(commit, None, "_count")[None]
    # one transaction per row or per settling at most (group commit may join them)
    assert 1 <= ntx <= 2 * len(messages), ntx
    assert samples(commit, None, "_sum")[None] > 0

    assert samples(fams["gatehouse_forward_errors"], None, "_total") == {None: 0.0}
    assert samples(fams["gatehouse_store_errors"], "op", "_total") == \
        {"verdict": 0.0, "settle": 0.0, "answers": 0.0}

    nsigs = int(sc.log().split(" signatures, listening on")[0].rsplit(" ", 1)[1])
    assert nsigs > 0
    assert samples(fams["gatehouse_signatures"]) == {None: float(nsigs)}
    age = samples(fams["gatehouse_signatures_age_seconds"])[None]
    assert SIG_AGE - 5 <= age <= SIG_AGE + 600, age
    # the clean ones were forwarded (the sink also gets the alerts)
    assert sorted(t.data.split(b"Subject: ")[1][:7] for t in sink.messages() if b"Subject: clean" in t.data) == \
        [b"clean 1", b"clean 2", b"clean 3"]


def test_forward_error_and_tempfail_counted(scand_factory, workdir):
    """Downstream unreachable: the row is recorded (a deferred attempt), the
    recipient answered 451 counts as tempfail, the forward error counts."""
    mport = ghtest.free_port()
    sc = scand_factory(ghtest.free_port(), sections={"scand": {"metrics_listen": "127.0.0.1:%d" % mport}})
    with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@example.org", ["bob@example.com"], ghtest.make_message(body="hi\r\n"))
        assert e.value.smtp_code == 451
    wait_answers_written(sc.db, 1)
    fams, _ = scrape(mport)
    assert samples(fams["gatehouse_forward_errors"], None, "_total") == {None: 1.0}
    assert ghtest.db_rows(sc.db, "SELECT destiny FROM msgrcpt") == [("tempfail",)]
    assert samples(fams["gatehouse_recipients"], "destiny", "_total")["tempfail"] == 1.0
    assert samples(fams["gatehouse_recipients"], "destiny", "_total")["pass"] == 0.0
    assert samples(fams["gatehouse_messages"], "category", "_total")["clean"] == 1.0
    assert samples(fams["gatehouse_message_duration_seconds"], None, "_count") == {None: 1.0}


def test_only_get_metrics(scand_factory, workdir):
    mport = ghtest.free_port()
    sc = scand_factory(ghtest.free_port(), sections={"scand": {"metrics_listen": "127.0.0.1:%d" % mport}})
    for path in ("/", "/metric", "/metrics/", "/metricsx"):
        assert http_get(mport, path)[0] == 404, path
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        status, headers, _ = http_get(mport, "/metrics", method)
        assert status == 405, method
        assert headers["Allow"] == "GET", method
    assert http_get(mport)[0] == 200
    assert listening_ports(sc.proc.pid) == {sc.port, mport}
    assert "metrics: serving http://127.0.0.1:%d/metrics" % mport in sc.log()


def test_off_by_default(scand_factory, workdir):
    sc = scand_factory(ghtest.free_port())
    assert "metrics_listen" not in open(sc.conf_path).read()
    assert listening_ports(sc.proc.pid) == {sc.port}
    assert "metrics:" not in sc.log()


def test_store_error_counted(scand_factory, sink):
    """The store locked by another process past busy_timeout: the message is
    answered 451 with no row, so it counts as a verdict store error, a
    tempfail recipient and a latency sample, and in no category."""
    from test_faults import StoreLock

    mport = ghtest.free_port()
    sc = scand_factory(sink.port, sections={"scand": {"metrics_listen": "127.0.0.1:%d" % mport,
                                                      "busy_timeout": "1"}})
    send_all(sc.port, [(ghtest.make_message(subject="warm"), ["bob@example.com"])])
    wait_answers_written(sc.db, 1)
    lock = StoreLock(sc.db)
    try:
        with smtplib.SMTP("127.0.0.1", sc.port, timeout=60) as s:
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("alice@example.org", ["carol@example.com"], ghtest.make_message(subject="locked"))
            assert e.value.smtp_code == 451
        fams, _ = scrape(mport)
    finally:
        lock.release()
    assert samples(fams["gatehouse_store_errors"], "op", "_total")["verdict"] == 1.0
    assert samples(fams["gatehouse_messages"], "category", "_total")["clean"] == 1.0
    assert ghtest.db_rows(sc.db, "SELECT count(*) FROM msgs") == [(1,)]
    rcpts = samples(fams["gatehouse_recipients"], "destiny", "_total")
    assert (rcpts["pass"], rcpts["tempfail"]) == (1.0, 1.0)
    assert samples(fams["gatehouse_message_duration_seconds"], None, "_count") == {None: 2.0}
    assert samples(fams["gatehouse_forward_errors"], None, "_total") == {None: 0.0}
