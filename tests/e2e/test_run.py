"""make run and the newcomer's first ten minutes.

- every path contrib/scand.conf.run's programs write is under ./var/;
- scripts/run (what `make run` starts) starts a local sink when nothing
  listens on the forward port, prints the GATEHOUSE_CONF lines once scand
  answers, passes a clean message to the sink, quarantines EICAR, and
  quarctl / scand-report find both through GATEHOUSE_CONF alone; Ctrl-C
  stops scand and the sink;
- GATEHOUSE_CONF is honoured by every program and -c still wins;
- scand-report graph --out creates a missing directory (or fails, exit 1);
- the report's JSON stays valid with an 8-bit (Latin-1) sender.
"""

import configparser
import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

import ghtest
import pytest

ROOT = ghtest.ROOT
RUN = os.path.join(ROOT, "scripts", "run")
RUN_CONF = os.path.join(ROOT, "contrib", "scand.conf.run")
QUARCTL = os.path.join(ghtest.BIN, "quarctl")
REPORT = os.path.join(ghtest.BIN, "scand-report")
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def defaults_under_var():
    """{(section, key): default} for every key whose default is a path under /var or /run."""
    out = subprocess.run([os.path.join(ghtest.BIN, "scand"), "--dump-config"], capture_output=True,
                         text=True, check=True).stdout
    found, sec = {}, None
    for line in out.splitlines():
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            sec = m.group(1)
        m = re.match(r"^#(\w+) = (/var/|/run/)(.*)", line)
        if m:
            found[(sec, m.group(1))] = m.group(2) + m.group(3)
    return found


@pytest.mark.parametrize("conf", [RUN_CONF, RUN_CONF + "-rspamd"])
def test_run_conf_paths_under_var(conf):
    cp = configparser.ConfigParser(interpolation=None)
    assert cp.read(conf) == [conf]
    defaults = defaults_under_var()
    assert ("report", "rrd_file") in defaults and ("scand", "database") in defaults
    for (sec, key), dflt in defaults.items():
        if (sec, key) == ("clamav", "database_dirs"):
            # read only: the system's signatures, then the tree's own
            assert cp.get(sec, key).split(":")[1:] == ["signatures"]
            continue
        assert cp.has_option(sec, key), "[%s] %s would be %s" % (sec, key, dflt)
        assert cp.get(sec, key).startswith("var/"), (sec, key, cp.get(sec, key))


def run_conf_copy(top, port, fwd):
    """contrib/scand.conf.run for a test: the same file with test ports, the
    tree's signatures only (no system database) and spamd off."""
    with open(RUN_CONF) as f:
        text = f.read()
    text = text.replace("listen = 127.0.0.1:10024", "listen = 127.0.0.1:%d" % port)
    text = text.replace("forward = 127.0.0.1:10025", "forward = 127.0.0.1:%d" % fwd)
    text = text.replace("database_dirs = /var/lib/clamav:signatures", "database_dirs = signatures")
    text = text.replace("spamd = 127.0.0.1:783", "enabled = no")
    text = text.replace("shipped_dir = templates", "shipped_dir = %s/templates" % ROOT)
    assert text.count("127.0.0.1:%d" % port) == 1 and "enabled = no" in text
    os.symlink(os.path.join(ROOT, "signatures"), os.path.join(top, "signatures"))
    path = os.path.join(top, "scand.conf.run")
    with open(path, "w") as f:
        f.write(text)
    return path


def send(port, subject, body, sender="alice@example.org"):
    msg = ghtest.make_message(subject=subject, body=body, sender=sender)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        try:
            s.sendmail(sender, ["bob@example.com"], msg)
            return 250
        except smtplib.SMTPResponseException as e:
            return e.smtp_code


def test_make_run_launcher(workdir):
    port, fwd = ghtest.free_port(), ghtest.free_port()
    conf = run_conf_copy(workdir, port, fwd)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("GATEHOUSE_CONF", None)
    log = open(os.path.join(workdir, "run.log"), "w+")
    proc = subprocess.Popen([sys.executable, RUN, "-b", ghtest.BUILD, "-c", conf], cwd=workdir,
                            stdout=log, stderr=subprocess.STDOUT, env=env)

    def out():
        log.seek(0)
        return log.read()

    try:
        ghtest.wait_for(lambda: "export GATEHOUSE_CONF=" in out() or proc.poll() is not None,
                        timeout=120, what="scripts/run ready")
        text = out()
        assert "LOCAL SINK" in text and "127.0.0.1:%d" % fwd in text, text
        assert "export GATEHOUSE_CONF=%s" % conf in text, text
        assert re.search(r"bin/quarctl\n", text) and "scand-report weekly --since 1d" in text, text
        # the sink took the forward port; scand answers
        assert send(port, "run: lunch", "Shall we meet at noon?\r\n") == 250
        assert send(port, "run: invoice", EICAR + "\r\n") in (250, 550, 554)
        sink = os.path.join(workdir, "var", "sink")
        ghtest.wait_for(lambda: os.path.isdir(sink) and os.listdir(sink), timeout=30, what="sink file")
        stored = [open(os.path.join(sink, n), "rb").read() for n in sorted(os.listdir(sink))]
        assert any(b"Subject: run: lunch" in m for m in stored)
        assert not any(b"EICAR-STANDARD" in m for m in stored)
        # quarctl and scand-report through GATEHOUSE_CONF only, from the top directory
        qenv = dict(env, GATEHOUSE_CONF=conf)
        r = subprocess.run([QUARCTL, "list", "--since", "1h"], cwd=workdir, env=qenv, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        lines = [l.split("\t") for l in r.stdout.splitlines()]
        assert any(l[2] == "virus" and l[-2] == "run: invoice" for l in lines), r.stdout
        assert os.path.exists(os.path.join(workdir, "var", "gatehouse.db"))
        r = subprocess.run([REPORT, "weekly", "--since", "1d", "--format", "json"], cwd=workdir, env=qenv,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["totals"]["messages"]["current"] == 2
        r = subprocess.run([REPORT, "rrd-update"], cwd=workdir, env=qenv, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert os.path.exists(os.path.join(workdir, "var", "gatehouse.rrd"))
        # Ctrl-C stops scand and the sink
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, out()
        assert "sink stopped" in out()
        assert not ghtest._port_open(fwd) and not ghtest._port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_run_uses_a_listening_mta(workdir):
    """With something on the forward port, no sink is started."""
    import smtpsink
    mta = smtpsink.Sink()
    port = ghtest.free_port()
    conf = run_conf_copy(workdir, port, mta.port)
    log = open(os.path.join(workdir, "run.log"), "w+")
    proc = subprocess.Popen([sys.executable, RUN, "-b", ghtest.BUILD, "-c", conf], cwd=workdir,
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        ghtest.wait_for(lambda: ghtest._port_open(port) or proc.poll() is not None, timeout=120,
                        what="scand")
        assert send(port, "run: to the mta", "hello\r\n") == 250
        assert len(mta.messages()) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.seek(0)
        assert "LOCAL SINK" not in log.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        mta.close()


def small_conf(workdir, name, db):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write("[scand]\ndatabase = %s\nquarantine_dir = %s/q\n[report]\nrrd_file = %s/%s.rrd\n"
                % (db, workdir, workdir, name))
    return path


def test_gatehouse_conf_env_and_c_wins(workdir):
    a = small_conf(workdir, "a.conf", os.path.join(workdir, "a.db"))
    missing = os.path.join(workdir, "no-such.conf")
    env = dict(os.environ, GATEHOUSE_CONF=a)
    # quarctl and scand-report open the store GATEHOUSE_CONF names
    assert subprocess.run([QUARCTL, "stats"], env=env, capture_output=True).returncode == 0
    assert os.path.exists(os.path.join(workdir, "a.db"))
    r = subprocess.run([REPORT, "weekly", "--since", "2d", "--format", "json"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    # a GATEHOUSE_CONF that does not exist is an error naming it, in every program
    env = dict(os.environ, GATEHOUSE_CONF=missing)
    for argv in ([QUARCTL, "stats"], [REPORT, "weekly"], [os.path.join(ghtest.BIN, "scand-notify"), "check"],
                 [os.path.join(ghtest.BIN, "scand"), "-f"]):
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "no-such.conf" in r.stderr, (argv, r.returncode, r.stderr)
    # -c wins over GATEHOUSE_CONF
    for argv in ([QUARCTL, "-c", a, "stats"], [REPORT, "-c", a, "weekly", "--since", "1d"],
                 [os.path.join(ghtest.BIN, "scand-notify"), "-c", a, "-T", os.path.join(ROOT, "templates"),
                  "check"]):
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (argv, r.stderr)


def test_graph_out_missing_dir(workdir):
    conf = small_conf(workdir, "g.conf", os.path.join(workdir, "g.db"))
    now = int(time.time())
    # the slow unwinder for librrd's drawing libraries (see test_report.py's ENV)
    env = dict(os.environ, GATEHOUSE_CONF=conf,
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0:suppressions="
               + os.path.join(ROOT, "tests", "asan.supp"))
    r = subprocess.run([REPORT, "--now", str(now), "rrd-update"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = os.path.join(workdir, "new", "graphs")
    r = subprocess.run([REPORT, "--now", str(now), "graph", "--period", "day", "--out", out], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["gatehouse-day-flow.png", "gatehouse-day-hosts.png", "gatehouse-day.png"]
    # a directory that cannot be made: a clear message and exit 1
    blocker = os.path.join(workdir, "file")
    open(blocker, "w").close()
    r = subprocess.run([REPORT, "--now", str(now), "graph", "--period", "day", "--out",
                        os.path.join(blocker, "sub")], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "cannot create the directory" in r.stderr, r.stderr


def test_report_json_latin1_sender(workdir):
    """A stored spam message whose sender is Latin-1 (8-bit, not UTF-8): the
    report's JSON is still UTF-8 and parses (common/json.c replaces the byte)."""
    db = os.path.join(workdir, "l1.db")
    conf = small_conf(workdir, "l1.conf", db)
    now = int(time.time())
    spec = os.path.join(workdir, "spec.tsv")
    line = b"\t".join([str(now - 60).encode(), b"spam", b"1234", b"j\xfcrgen@b\xe4ckerei.example",
                       b"bob@example.com=discard", b"", b"", b"12.5", b"40", b"quarantined", b""]) + b"\n"
    with open(spec, "wb") as f:
        f.write(line)
    r = ghtest.run([os.path.join(ghtest.BUILD, "bench", "report_gen"), "load", db, spec])
    assert r.stdout.strip() == "1 messages", r.stdout
    r = subprocess.run([REPORT, "-c", conf, "weekly", "--since", "1h", "--format", "json"], capture_output=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout.decode("utf-8"))  # strict UTF-8, then JSON
    assert j["totals"]["messages"]["current"] == 1
    assert "j\ufffdrgen@b\ufffdckerei.example" in json.dumps(j, ensure_ascii=False), r.stdout


def test_one_time_parser_on_every_command_line(workdir):
    """quarctl and scand-report take the same ages and dates and refuse the
    same trailing garbage (common/when.c)."""
    conf = small_conf(workdir, "w.conf", os.path.join(workdir, "w.db"))
    for good in ("30m", "12h", "7d", "2w", "2026-01-01", "2026-01-01 10:00", "2026-01-01 10:00:05"):
        r = subprocess.run([QUARCTL, "-c", conf, "list", "--since", good], capture_output=True, text=True)
        assert r.returncode == 0, (good, r.stderr)
        r = subprocess.run([REPORT, "-c", conf, "weekly", "--since", good, "--format", "json"],
                           capture_output=True, text=True)
        assert r.returncode == 0, (good, r.stderr)
    for bad in ("2026-01-01x", "7x", "", "99999999999999999999d", "2026-02-30"):
        r = subprocess.run([QUARCTL, "-c", conf, "list", "--since", bad], capture_output=True, text=True)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        r = subprocess.run([REPORT, "-c", conf, "weekly", "--since", bad], capture_output=True, text=True)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
    r = subprocess.run([QUARCTL, "-c", conf, "expire", "--older-than", "7x", "--dry-run"], capture_output=True,
                       text=True)
    assert r.returncode == 2, r.stderr
