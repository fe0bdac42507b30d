"""Deployment (issue 8): the chroot jail builder, the Postfix wiring script,
make install, the man pages and the systemd unit."""

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

import ghtest

CHROOT_SETUP = os.path.join(ghtest.ROOT, "contrib", "chroot-setup")
PF_SETUP = os.path.join(ghtest.ROOT, "contrib", "postfix", "setup")


def listing(top):
    """Every path under top with its type, owner, group, mode, size, mtime and link target."""
    rows = []
    for d, dirs, files in os.walk(top):
        for name in [""] + sorted(dirs) + sorted(files):
            p = os.path.join(d, name) if name else d
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            rdev = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISCHR(st.st_mode) else ""
            rows.append((os.path.relpath(p, top), st.st_uid, st.st_gid, oct(st.st_mode), st.st_size,
                         st.st_mtime_ns, link, rdev))
    return sorted(set(rows))


def jail_setup(jail, sigs, *extra):
    return ghtest.run([CHROOT_SETUP, jail, "--signatures", sigs, "--templates", "none"] + list(extra),
                      check=False)


@pytest.fixture
def jail(workdir):
    sigs = os.path.join(workdir, "sigsrc")
    os.makedirs(sigs)
    with open(os.path.join(sigs, "t.ndb"), "w") as f:
        f.write("Gatehouse.Test:0:*:676174656869757365\n")
    return os.path.join(workdir, "jail"), sigs


def test_chroot_setup_builds_the_jail_then_is_a_noop(jail):
    jdir, sigs = jail
    first = jail_setup(jdir, sigs)
    assert first.returncode == 0, first.stdout
    assert "created %s/quarantine (gatehouse:gatehouse 700)" % jdir in first.stdout
    assert "created device %s/dev/null" % jdir in first.stdout
    before = listing(jdir)

    second = jail_setup(jdir, sigs)
    assert second.returncode == 0, second.stdout
    assert second.stdout.strip().splitlines() == ["chroot-setup: %s: nothing to change" % jdir]
    assert listing(jdir) == before

    # what the daemon needs, with the owners and modes it needs
    import pwd
    gh = pwd.getpwnam("gatehouse")
    assert gh.pw_shell.endswith("nologin") or gh.pw_shell == "/bin/false"
    for d in ("quarantine", "work", "db", "var/tmp"):
        st = os.stat(os.path.join(jdir, d))
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (gh.pw_uid, 0o700), d
    for d in ("", "signatures", "etc", "dev"):
        st = os.stat(os.path.join(jdir, d))
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755), d
    null = os.stat(os.path.join(jdir, "dev/null"))
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    with open(os.path.join(jdir, "dev/urandom"), "rb") as f:
        assert len(f.read(16)) == 16
    with open("/etc/localtime", "rb") as a, open(os.path.join(jdir, "etc/localtime"), "rb") as b:
        assert a.read() == b.read()
    assert os.path.isfile(os.path.join(jdir, "signatures/t.ndb"))
    # the self link: an absolute path under the jail means the same file inside it
    assert os.path.samefile(jdir + jdir + "/quarantine", os.path.join(jdir, "quarantine"))
    # inside the jail, as the daemon user: the configured absolute paths work
    probe = in_jail(jdir, gh, lambda: (
        os.open(jdir + "/quarantine/probe", os.O_CREAT | os.O_WRONLY, 0o600),
        open("/dev/urandom", "rb").read(4),
        os.path.isdir("/usr/share/zoneinfo"),
        os.access("/", os.W_OK),
    ))
    assert probe[2] is True and probe[3] is False, probe
    assert os.stat(os.path.join(jdir, "quarantine/probe")).st_uid == gh.pw_uid


def in_jail(jdir, pw, fn):
    """Run fn() in a child chrooted to jdir as pw's uid/gid; return repr-able result."""
    import pickle
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.chroot(jdir)
            os.chdir("/")
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            res = fn()
        except BaseException as e:  # report, never return into pytest
            res = ("error", repr(e))
        os.write(wfd, pickle.dumps(res))
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def test_chroot_setup_follows_signature_changes(jail):
    jdir, sigs = jail
    assert jail_setup(jdir, sigs).returncode == 0
    with open(os.path.join(sigs, "t.ndb"), "a") as f:
        f.write("Gatehouse.Test2:0:*:6e6f7468696e67\n")
    r = jail_setup(jdir, sigs)
    assert "copied %s/t.ndb to %s/signatures/t.ndb" % (sigs, jdir) in r.stdout
    os.unlink(os.path.join(sigs, "t.ndb"))
    r = jail_setup(jdir, sigs)
    assert "removed %s/signatures/t.ndb" % jdir in r.stdout
    assert os.listdir(os.path.join(jdir, "signatures")) == []


def test_chroot_setup_check_flags_unsafe_modes_and_owners(jail):
    jdir, sigs = jail
    assert jail_setup(jdir, sigs).returncode == 0
    ok = jail_setup(jdir, sigs, "--check")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.strip().endswith("ok")

    q = os.path.join(jdir, "quarantine")
    os.chmod(q, 0o777)
    before = listing(jdir)
    r = jail_setup(jdir, sigs, "--check")
    assert r.returncode != 0
    assert "%s: unsafe mode 777" % q in r.stdout
    assert listing(jdir) == before  # --check changes nothing

    os.chown(os.path.join(jdir, "signatures"), 65534, 65534)
    os.unlink(os.path.join(jdir, "dev/null"))
    r = jail_setup(jdir, sigs, "--check")
    assert r.returncode != 0
    assert "%s/signatures: is nobody:nogroup 755, should be root:root 755" % jdir in r.stdout
    assert "%s/dev/null: is '-'" % jdir in r.stdout

    # a normal run repairs all of it
    r = jail_setup(jdir, sigs)
    assert "fixed %s (was gatehouse:gatehouse 777, now gatehouse:gatehouse 700)" % q in r.stdout
    assert jail_setup(jdir, sigs, "--check").returncode == 0


def postconf(pf, *args):
    """postconf's standard output only (its warnings go to stderr)."""
    return subprocess.run(["postconf", "-c", pf.conf] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True).stdout


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_postfix_setup_applies_and_undoes(postfix_factory):
    pf = postfix_factory(mode=None)
    main, master = os.path.join(pf.conf, "main.cf"), os.path.join(pf.conf, "master.cf")
    orig = (sha(main), sha(master))
    fport, rport = ghtest.free_port(), ghtest.free_port()
    args = [PF_SETUP, "--config-dir", pf.conf, "--port", str(fport), "--reinject-port", str(rport),
            "--maxproc", "3"]
    r = ghtest.run(args, check=False)
    assert r.returncode == 0, r.stdout
    assert "reloaded the running instance" in r.stdout
    assert postconf(pf, "-n", "content_filter").strip() == "content_filter = scan:[127.0.0.1]:%d" % fport
    assert postconf(pf, "-n", "receive_override_options").strip() == \
        "receive_override_options = no_address_mappings"
    assert postconf(pf, "-M", "scan/unix").split() == (
        "scan unix - - n - 3 smtp -o smtp_send_xforward_command=yes "
        "-o disable_mime_output_conversion=yes -o smtp_data_done_timeout=1200s").split()
    reinj = postconf(pf, "-P", "127.0.0.1:%d/inet" % rport).splitlines()
    for want in ("content_filter =",
                 "receive_override_options = no_unknown_recipient_checks,no_header_body_checks,no_milters",
                 "mynetworks = 127.0.0.0/8", "smtpd_authorized_xforward_hosts = 127.0.0.0/8",
                 "smtpd_relay_restrictions = permit_mynetworks,reject"):
        assert "127.0.0.1:%d/inet/%s" % (rport, want) in reinj
    ghtest.wait_port(rport)  # the reload brought the reinjection smtpd up

    # idempotent: a second run changes no byte
    applied = (sha(main), sha(master))
    r = ghtest.run(args, check=False)
    assert r.returncode == 0 and "nothing changed" in r.stdout, r.stdout
    assert (sha(main), sha(master)) == applied

    # before-queue on top of after-queue is refused
    r = ghtest.run(args + ["--mode", "before-queue"], check=False)
    assert r.returncode != 0 and "--undo first" in r.stdout

    r = ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--undo"], check=False)
    assert r.returncode == 0, r.stdout
    assert (sha(main), sha(master)) == orig
    assert not os.path.exists(main + ".gatehouse-orig")


def test_postfix_setup_before_queue(postfix_factory):
    pf = postfix_factory(mode=None)
    orig = sha(os.path.join(pf.conf, "master.cf"))
    svc = "127.0.0.1:%d/inet" % pf.smtpd_port
    fport, rport = ghtest.free_port(), ghtest.free_port()
    r = ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--mode", "before-queue", "--service", svc,
                    "--port", str(fport), "--reinject-port", str(rport)], check=False)
    assert r.returncode == 0, r.stdout
    params = postconf(pf, "-P", svc).splitlines()
    assert "%s/smtpd_proxy_filter = 127.0.0.1:%d" % (svc, fport) in params
    assert "%s/smtpd_proxy_options = speed_adjust" % svc in params
    assert postconf(pf, "-n", "content_filter").strip() == ""
    assert "127.0.0.1:%d/inet/receive_override_options = no_unknown_recipient_checks" % rport in \
        postconf(pf, "-P", "127.0.0.1:%d/inet" % rport).splitlines()
    r = ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--service", "nosuch/inet", "--mode", "before-queue"],
                   check=False)
    assert r.returncode != 0 and "no service nosuch/inet" in r.stdout
    ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--undo"])
    assert sha(os.path.join(pf.conf, "master.cf")) == orig
