"""scand started as root in a chroot jail built by contrib/chroot-setup,
dropping to the gatehouse user (issue 8), with mail through real Postfix."""

import os
import pwd
import grp
import re
import signal

import pytest

import ghtest

CHROOT_SETUP = os.path.join(ghtest.ROOT, "contrib", "chroot-setup")


def proc_ids(pid):
    """(real uid, real gid, supplementary groups) from /proc/<pid>/status."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    return (int(st["Uid"].split()[0]), int(st["Gid"].split()[0]), st["Groups"].split(),
            st["Uid"].split(), st["Gid"].split(), st["CapEff"].strip())


@pytest.fixture
def jailed(workdir, postfix_factory, scand_factory):
    """A jail, scand in it (root -> gatehouse), Postfix filtering through it."""
    jail = os.path.join(workdir, "jail")
    sigs = os.path.join(workdir, "sigsrc")
    os.makedirs(sigs)
    # EICAR by MD5 and size (sigtool --md5), so the jail has a database
    # whatever the project ships
    with open(os.path.join(sigs, "jail-test.hdb"), "w") as f:
        f.write("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
    tpl = os.path.join(ghtest.ROOT, "templates")
    r = ghtest.run([CHROOT_SETUP, jail, "--signatures", sigs, "--templates", tpl if os.path.isdir(tpl) else "none"],
                   check=False)
    assert r.returncode == 0, r.stdout
    port = ghtest.free_port()
    pf = postfix_factory(mode="smtp", filter_port=port)
    sections = {
        "scand": {"chroot": jail, "user": "gatehouse", "group": "gatehouse", "allow_root": "no",
                  "database": jail + "/db/gatehouse.db", "quarantine_dir": jail + "/quarantine",
                  "work_dir": jail + "/work", "pid_file": os.path.join(workdir, "scand.pid")},
        "clamav": {"database_dirs": jail + "/signatures", "reload_check_interval": "0"},
    }
    if os.path.isdir(tpl):
        sections["notify"] = {"template_dir": jail + "/templates"}
    sd = scand_factory(pf.reinject_port, port=port, sections=sections)
    # the port is bound before the drop: wait for the start line
    ghtest.wait_for(lambda: "ready:" in sd.log() or sd.proc.poll() is not None, timeout=60, what="scand ready")
    assert sd.proc.poll() is None, sd.log()
    return jail, sigs, pf, sd


def test_scand_runs_jailed_as_gatehouse(jailed):
    jail, _, pf, sd = jailed
    gh = pwd.getpwnam("gatehouse")
    ghg = grp.getgrnam("gatehouse")
    uid, gid, groups, uids, gids, capeff = proc_ids(sd.proc.pid)
    assert uids == [str(gh.pw_uid)] * 4, uids  # real, effective, saved, fs
    assert gids == [str(ghg.gr_gid)] * 4, gids
    assert groups == [str(ghg.gr_gid)]
    assert int(capeff, 16) == 0  # no capability left
    assert os.readlink("/proc/%d/root" % sd.proc.pid) == jail
    assert os.readlink("/proc/%d/cwd" % sd.proc.pid) == jail
    log = sd.log()
    assert re.search(r"ready: chroot %s, uid gatehouse, .*listening on 127\.0\.0\.1:%d" % (re.escape(jail), sd.port),
                     log), log
    # the store the daemon writes is its own
    assert os.stat(jail + "/db/gatehouse.db").st_uid == gh.pw_uid

    msg = ghtest.make_message(subject="clean through the jail", body="nothing to see\r\n")
    pf.send("alice@example.org", ["bob@example.com"], msg)
    files = pf.wait_delivered(1)
    raw = open(files[0], "rb").read()
    assert b"Subject: clean through the jail" in raw
    # scand's spool and temporary files live in the jail's work directory
    assert os.path.isdir(jail + "/work")


def test_scand_refuses_root_without_allow_root(workdir, scand_factory):
    sd = scand_factory(ghtest.free_port(), start=False,
                       sections={"scand": {"user": "root", "group": "root", "allow_root": "no"}})
    sd.start(wait=False)
    assert sd.proc.wait(timeout=30) != 0
    assert "refusing to run as root" in sd.log()


def test_sighup_in_the_jail_keeps_serving(jailed):
    jail, _, pf, sd = jailed
    sd.signal(signal.SIGHUP)
    ghtest.wait_for(lambda: "reload" in sd.log(), timeout=20, what="reload log line")
    assert sd.proc.poll() is None
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="after hup"))
    pf.wait_delivered(1)
