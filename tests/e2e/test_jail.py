"""scand started as root in a chroot jail built by contrib/chroot-setup,
dropping to the gatehouse user, with mail through real Postfix:
the engines' corpus gets the same verdicts as outside the jail, /proc shows
the unprivileged ids and the jail as root, and a signature reload inside
the jail works. Root never acts through what the daemon user can plant in
its own directories: leftovers in the work directory are removed after the
drop and never through a link or a mount to outside."""

import binascii
import glob
import grp
import hashlib
import os
import pwd
import re
import signal
import sqlite3
import time
import urllib.request

import pytest

import ghtest
from test_engines import corpus, delivered_ids, message_id, rows

CHROOT_SETUP = os.path.join(ghtest.ROOT, "contrib", "chroot-setup")
TEMPLATES = os.path.join(ghtest.ROOT, "templates")
RELOAD_MARK = "GATEHOUSE-JAIL-RELOAD-PROBE-7f3a"


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict((k, v.strip()) for k, v in (line.split(":", 1) for line in f if ":" in line))


def wait_ready(sd):
    # the port is bound before the engines load and the privileges go
    ghtest.wait_for(lambda: "ready:" in sd.log() or sd.proc.poll() is not None, timeout=60, what="scand ready")
    assert sd.proc.poll() is None, sd.log()


@pytest.fixture
def jailed(workdir, postfix_factory, scand_factory, spamd):
    """A jail, scand in it (root -> gatehouse), Postfix filtering through it."""
    jail = os.path.join(workdir, "jail")
    extra = os.path.join(workdir, "sig-extra")
    os.makedirs(extra)
    sigs = os.path.join(ghtest.ROOT, "signatures") + ":" + extra
    r = ghtest.run([CHROOT_SETUP, jail, "--signatures", sigs, "--templates", TEMPLATES], check=False)
    assert r.returncode == 0, r.stdout
    fwd = ghtest.free_port()
    mport = ghtest.free_port()
    sections = {
        "scand": {"chroot": jail, "user": "gatehouse", "group": "gatehouse", "allow_root": "no",
                  "metrics_listen": "127.0.0.1:%d" % mport,
                  "database": jail + "/db/gatehouse.db", "quarantine_dir": jail + "/quarantine",
                  "work_dir": jail + "/work", "pid_file": os.path.join(workdir, "scand.pid")},
        "clamav": {"database_dirs": jail + "/signatures", "reload_check_interval": "0"},
        "spam": {"enabled": "yes", "spamd": "127.0.0.1:%d" % spamd.port},
        "notify": {"template_dir": jail + "/templates"},
    }
    sd = scand_factory(fwd, start=False, sections=sections)
    pf = postfix_factory(mode="smtp", filter_port=sd.port, reinject_port=fwd)
    sd.start()
    wait_ready(sd)
    return {"jail": jail, "sigs": sigs, "extra": extra, "pf": pf, "sd": sd, "mport": mport}


def test_scand_runs_jailed_as_gatehouse(jailed):
    jail, sd = jailed["jail"], jailed["sd"]
    gh, ghg = pwd.getpwnam("gatehouse"), grp.getgrnam("gatehouse")
    st = proc_status(sd.proc.pid)
    assert st["Uid"].split() == [str(gh.pw_uid)] * 4  # real, effective, saved, fs
    assert st["Gid"].split() == [str(ghg.gr_gid)] * 4
    assert st["Groups"].split() == [str(ghg.gr_gid)]
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert os.readlink("/proc/%d/root" % sd.proc.pid) == jail
    assert os.readlink("/proc/%d/cwd" % sd.proc.pid) == jail
    nsigs = sum(1 for d in jailed["sigs"].split(":") for f in os.listdir(d)
                for line in open(os.path.join(d, f)) if line.strip())
    assert re.search(r"ready: chroot %s, uid gatehouse, %d signatures, listening on 127\.0\.0\.1:%d"
                     % (re.escape(jail), nsigs, sd.port), sd.log()), sd.log()
    # what the daemon writes is its own and private
    for p in (jail + "/db/gatehouse.db",):
        s = os.stat(p)
        assert s.st_uid == gh.pw_uid and s.st_mode & 0o077 == 0, p
    # /metrics is served from the jail, by a thread started after the drop
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % jailed["mport"], timeout=10) as r:
        page = r.read().decode()
    assert "\ngatehouse_signatures %d\n" % nsigs in page, page
    for task in os.listdir("/proc/%d/task" % sd.proc.pid):
        assert proc_status(int(task))["Uid"].split() == [str(gh.pw_uid)] * 4, task


def test_corpus_in_the_jail_gets_the_verdicts_of_outside(jailed):
    pf, sd, jail = jailed["pf"], jailed["sd"], jailed["jail"]
    cases = corpus()
    for _, raw, *_ in cases:
        pf.send("alice@example.org", ["bob@example.com"], raw)
    want_pass = sum(1 for c in cases if c[3] == "pass")
    qfiles = lambda: glob.glob(os.path.join(jail, "quarantine", "*", "*", "*", "*", "*"))
    ghtest.wait_for(lambda: len(qfiles()) >= len(cases) - want_pass and len(pf.delivered()) >= want_pass,
                    timeout=180, what="all verdicts (scand log:\n%s)" % sd.log()[-3000:])
    time.sleep(0.5)
    got = delivered_ids(pf)
    gh = pwd.getpwnam("gatehouse")
    for name, raw, cat, destiny, qdir in cases:
        mid = message_id(raw)
        m, r = rows(jail + "/db/gatehouse.db", mid)
        assert len(m) == 1 and len(r) == 1, name
        _, category, qpath, qsize, qsha, vnames, bnames, _ = m[0]
        assert (category, r[0][1]) == (cat, destiny), "%s: %s/%s (%s %s)" % (name, category, r[0][1], vnames, bnames)
        assert (mid in got) == (destiny == "pass"), name
        if qdir:
            path = os.path.join(jail, "quarantine", qpath)
            data = open(path, "rb").read()
            assert len(data) == qsize and hashlib.sha256(data).hexdigest() == qsha, name
            s = os.stat(path)
            assert s.st_uid == gh.pw_uid and s.st_mode & 0o777 == 0o600, name
    # alerts are rendered from the jail's templates and sent from inside it
    def outbox():
        con = sqlite3.connect(jail + "/db/gatehouse.db")
        try:
            return con.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        finally:
            con.close()
    ghtest.wait_for(lambda: dict(outbox()).get("sent", 0) > 0 and "pending" not in dict(outbox()), timeout=60,
                    what="alerts sent (outbox %s)" % outbox())
    assert "failed" not in dict(outbox()), outbox()
    # spool files were made (and removed) inside the jail; nothing is left
    assert os.listdir(os.path.join(jail, "work")) == []


def test_signature_reload_inside_the_jail(jailed):
    pf, sd, jail, extra = jailed["pf"], jailed["sd"], jailed["jail"], jailed["extra"]
    probe = ghtest.make_message(subject="reload probe", body="%s\r\n" % RELOAD_MARK)
    pf.send("alice@example.org", ["bob@example.com"], probe)
    pf.wait_delivered(1)  # unknown to the engine: passes

    # a new signature arrives the way an operator's update does: into the
    # source directory, copied into the jail by chroot-setup, then SIGHUP
    with open(os.path.join(extra, "reload.ndb"), "w") as f:
        f.write("Gatehouse.Jail.Reload:0:*:%s\n" % binascii.hexlify(RELOAD_MARK.encode()).decode())
    r = ghtest.run([CHROOT_SETUP, jail, "--signatures", jailed["sigs"], "--templates", TEMPLATES])
    assert "copied %s/reload.ndb to %s/signatures/reload.ndb" % (extra, jail) in r.stdout
    before = sd.log()
    sd.signal(signal.SIGHUP)
    ghtest.wait_for(lambda: re.search(r"clamav.*(load|reload)", sd.log()[len(before):], re.I), timeout=30,
                    what="signature reload in the log (%s)" % sd.log()[-2000:])
    assert sd.proc.poll() is None

    probe2 = ghtest.make_message(subject="reload probe 2", body="%s\r\n" % RELOAD_MARK)
    pf.send("alice@example.org", ["bob@example.com"], probe2)
    ghtest.wait_for(lambda: rows(jail + "/db/gatehouse.db", message_id(probe2))[0], timeout=30,
                    what="a verdict for the second probe")
    m, r = rows(jail + "/db/gatehouse.db", message_id(probe2))
    assert m[0][1] == "virus" and m[0][5].startswith("Gatehouse.Jail.Reload"), m
    assert r[0][1] == "discard"


def test_work_dir_cleaned_after_the_drop_never_outside(workdir, scand_factory):
    """The work directory is the daemon user's: besides a killed scand's
    leftovers it may hold a symlink to outside or a directory with outside
    content on it (here a bind mount, a link that a walk does not see).
    scand removes the leftovers as gatehouse, after the drop, so nothing of
    root's outside the jail is removed."""
    jail = os.path.join(workdir, "jail")
    r = ghtest.run([CHROOT_SETUP, jail, "--signatures", os.path.join(ghtest.ROOT, "signatures"),
                    "--templates", TEMPLATES], check=False)
    assert r.returncode == 0, r.stdout
    gh = pwd.getpwnam("gatehouse")
    outside = os.path.join(workdir, "outside")  # root's, 0755: not the daemon's to remove
    os.makedirs(os.path.join(outside, "dir"))
    for n in ("file", "dir/a", "dir/b"):
        with open(os.path.join(outside, n), "w") as f:
            f.write("root's\n")
    work = jail + "/work"
    leftover = work + "/scand-spool-AbCdEf"  # a killed scand's spool file: removed
    with open(leftover, "w") as f:
        f.write("left over\n")
    os.chown(leftover, gh.pw_uid, gh.pw_gid)
    os.symlink(outside + "/dir", work + "/scand-spool-linkdir")
    os.symlink(outside + "/file", work + "/20261121_132842-linkfile")
    mnt = work + "/20261121_132843-scantemp.x"
    os.mkdir(mnt)
    os.chown(mnt, gh.pw_uid, gh.pw_gid)
    ghtest.run(["mount", "--bind", outside + "/dir", mnt])
    try:
        sections = {
            "scand": {"chroot": jail, "user": "gatehouse", "group": "gatehouse", "allow_root": "no",
                      "database": jail + "/db/gatehouse.db", "quarantine_dir": jail + "/quarantine",
                      "work_dir": work, "pid_file": os.path.join(workdir, "scand.pid")},
            "clamav": {"database_dirs": jail + "/signatures", "reload_check_interval": "0"},
            "notify": {"template_dir": jail + "/templates"},
        }
        sd = scand_factory(ghtest.free_port(), start=False, sections=sections)
        sd.start()
        wait_ready(sd)
        listed = sorted(os.listdir(mnt))
    finally:
        ghtest.run(["umount", "-l", mnt], check=False)
    assert listed == ["a", "b"], sd.log()
    assert sorted(os.listdir(outside + "/dir")) == ["a", "b"]
    assert os.path.isfile(outside + "/file")
    assert all(os.stat(os.path.join(outside, n)).st_uid == 0 for n in ("file", "dir", "dir/a", "dir/b"))
    # what is the daemon's own is cleaned: the spool file and both links (not their targets)
    left = sorted(os.listdir(work))
    assert left == ["20261121_132843-scantemp.x"], left
    assert "removed 3 spool file(s) left over" in sd.log(), sd.log()


def test_scand_refuses_root_without_allow_root(workdir, scand_factory):
    sd = scand_factory(ghtest.free_port(), start=False,
                       sections={"scand": {"user": "root", "group": "root", "allow_root": "no"}})
    sd.start(wait=False)
    assert sd.proc.wait(timeout=60) != 0
    assert "refusing to run as root" in sd.log()


def test_quarctl_releases_from_the_jail(jailed):
    """quarctl, outside the jail, finds what jailed scand quarantined under
    the same configured paths and releases it."""
    pf, sd, jail = jailed["pf"], jailed["sd"], jailed["jail"]
    banned = corpus()[5]  # "banned exe": quarantined, not delivered
    assert banned[0] == "banned exe"
    raw = banned[1]
    pf.send("alice@example.org", ["bob@example.com"], raw)
    db = jail + "/db/gatehouse.db"
    m = ghtest.wait_for(lambda: rows(db, message_id(raw))[0], timeout=30, what="the verdict row")
    qpath = m[0][2]
    assert qpath and os.path.isfile(os.path.join(jail, "quarantine", qpath))
    listed = ghtest.run([os.path.join(ghtest.BIN, "quarctl"), "-c", sd.conf_path, "list"]).stdout
    con = sqlite3.connect(db)
    mail_id = con.execute("SELECT mail_id FROM msgs WHERE message_id = ?", (message_id(raw),)).fetchone()[0]
    con.close()
    assert qpath.endswith(mail_id)
    assert mail_id in listed, listed
    r = ghtest.run([os.path.join(ghtest.BIN, "quarctl"), "-c", sd.conf_path, "release", mail_id], check=False)
    assert r.returncode == 0, r.stdout
    files = pf.wait_delivered(1)
    assert message_id(raw) == message_id(open(files[0], "rb").read())
