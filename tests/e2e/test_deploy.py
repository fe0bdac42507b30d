"""Deployment (issue 8): the chroot jail builder, the Postfix wiring script,
make install, the man pages and the systemd unit."""

import hashlib
import re
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
    import ctypes
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.iconv_open.restype = ctypes.c_void_p
    probe = in_jail(jdir, gh, lambda: (
        os.open(jdir + "/quarantine/probe", os.O_CREAT | os.O_WRONLY, 0o600),
        open("/dev/urandom", "rb").read(4),
        os.path.isdir("/usr/share/zoneinfo"),
        os.access("/", os.W_OK),
        # a legacy charset needs its gconv module, loaded by path
        libc.iconv_open(b"UTF-8", b"WINDOWS-1252") not in (None, ctypes.c_void_p(-1).value),
    ))
    assert probe[2:] == (True, False, True), probe
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
    # two sources: the union, the first one holding a name wins
    other = sigs + "2"
    os.makedirs(other)
    for name, text in (("t.ndb", "ignored\n"), ("u.hdb", "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n")):
        with open(os.path.join(other, name), "w") as f:
            f.write(text)
    r = jail_setup(jdir, sigs + ":" + other)
    assert r.stdout.splitlines()[0] == "chroot-setup: copied %s/u.hdb to %s/signatures/u.hdb" % (other, jdir)
    assert open(os.path.join(jdir, "signatures/t.ndb")).read() == open(os.path.join(sigs, "t.ndb")).read()
    assert jail_setup(jdir, sigs + ":" + other).stdout.strip().endswith("nothing to change")
    os.unlink(os.path.join(sigs, "t.ndb"))
    r = jail_setup(jdir, sigs)
    assert "removed %s/signatures/t.ndb" % jdir in r.stdout
    assert "removed %s/signatures/u.hdb" % jdir in r.stdout
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
    assert postconf(pf, "-n", "scan_destination_concurrency_limit", "scan_destination_recipient_limit"
                    ).splitlines() == ["scan_destination_concurrency_limit = 3", "scan_destination_recipient_limit = 1000"]
    assert postconf(pf, "-M", "scan/unix").split() == (
        "scan unix - - n - 3 smtp -o smtp_send_xforward_command=yes "
        "-o disable_mime_output_conversion=yes -o smtp_generic_maps= -o smtp_data_done_timeout=1200s").split()
    reinj = postconf(pf, "-P", "127.0.0.1:%d/inet" % rport).splitlines()
    for want in ("content_filter =", "smtpd_proxy_filter =", "smtpd_end_of_data_restrictions =",
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
    assert "%s/smtpd_proxy_timeout = 1200s" % svc in params
    assert postconf(pf, "-n", "content_filter").strip() == ""
    assert "127.0.0.1:%d/inet/receive_override_options = no_unknown_recipient_checks" % rport in \
        postconf(pf, "-P", "127.0.0.1:%d/inet" % rport).splitlines()
    r = ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--service", "nosuch/inet", "--mode", "before-queue"],
                   check=False)
    assert r.returncode != 0 and "no service nosuch/inet" in r.stdout
    ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--undo"])
    assert sha(os.path.join(pf.conf, "master.cf")) == orig


# -- make install, man pages, systemd unit ------------------------------------

MAN_PAGES = ["man5/scand.conf.5", "man8/scand.8", "man8/quarctl.8", "man8/scand-report.8", "man8/scand-web.8"]


def repo_files(sub):
    top = os.path.join(ghtest.ROOT, sub)
    out = []
    for d, _, files in os.walk(top):
        out += [os.path.relpath(os.path.join(d, f), top) for f in files]
    return sorted(out)


def expected_install(prefix, sysconf):
    share = prefix + "/share/gatehouse"
    want = {prefix + "/sbin/" + p for p in ("scand", "quarctl", "scand-report", "scand-notify", "scand-web")
            if os.path.exists(os.path.join(ghtest.ROOT, {"scand": "scand", "quarctl": "quarctl",
                                                             "scand-report": "report",
                                                             "scand-notify": "notify",
                                                             "scand-web": "web"}[p], "main.c"))}
    want |= {sysconf + "/scand.conf.example", prefix + "/lib/systemd/system/scand.service",
             share + "/contrib/chroot-setup", share + "/contrib/postfix/setup"}
    want |= {prefix + "/share/man/" + m for m in MAN_PAGES}
    want |= {share + "/schema/" + f for f in repo_files("schema")}
    want |= {share + "/templates/" + f for f in repo_files("templates")}
    want |= {share + "/signatures/" + f for f in repo_files("signatures")}
    snippets = [f for f in repo_files("contrib/postfix") if f != "setup"]
    assert "master.cf.after-queue" in snippets
    want |= {share + "/contrib/postfix/" + f for f in snippets}
    want |= {share + "/contrib/prometheus/" + f for f in repo_files("contrib/prometheus")}
    if os.path.exists(os.path.join(ghtest.ROOT, "contrib/cron.d/gatehouse")):
        want.add("/etc/cron.d/gatehouse")
    return want


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    stage = str(tmp_path_factory.mktemp("stage"))
    r = subprocess.run(["make", "-s", "-j2", "-C", ghtest.ROOT, "install", "DESTDIR=" + stage,
                        "PREFIX=/usr/local", "SYSCONFDIR=/etc/gatehouse"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:]
    return stage


def test_make_install_stages_every_file(staged):
    got = set()
    for d, _, files in os.walk(staged):
        got |= {"/" + os.path.relpath(os.path.join(d, f), staged) for f in files}
    want = expected_install("/usr/local", "/etc/gatehouse")
    assert got == want, "missing: %s, unexpected: %s" % (sorted(want - got), sorted(got - want))
    for p in ("/usr/local/sbin/scand", "/usr/local/share/gatehouse/contrib/chroot-setup"):
        assert os.access(staged + p, os.X_OK), p
    unit = open(staged + "/usr/local/lib/systemd/system/scand.service").read()
    assert "ExecStart=/usr/local/sbin/scand -f -c /etc/gatehouse/scand.conf\n" in unit
    assert "@" not in unit.replace("@SBINDIR@", "").split("[Unit]")[1]


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(staged, page):
    path = staged + "/usr/local/share/man/" + page
    r = subprocess.run(["man", "-l", "--warnings", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    name = os.path.basename(page).rsplit(".", 1)[0]
    assert "NAME" in r.stdout and name in r.stdout
    assert len(r.stdout.splitlines()) > 20


def test_scand_conf_man_page_matches_the_config_table():
    gen = subprocess.run([os.path.join(ghtest.ROOT, "scripts/gen-man-conf"), os.path.join(ghtest.BIN, "scand")],
                         stdout=subprocess.PIPE, check=True).stdout
    with open(os.path.join(ghtest.ROOT, "man/scand.conf.5"), "rb") as f:
        assert f.read() == gen, "man/scand.conf.5 is stale: scripts/gen-man-conf build/bin/scand > man/scand.conf.5"
    # every key of the table is in the page
    keys = [l.split(" = ")[0][1:] for l in ghtest.run([os.path.join(ghtest.BIN, "scand"), "--dump-config"])
            .stdout.splitlines() if l.startswith("#") and " = " in l and not l.startswith("# ")]
    assert len(keys) > 50
    for k in keys:
        assert (".B " + k.replace("-", "\\-") + "\n").encode() in gen, k


def test_systemd_unit_verifies(staged, tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # a root with the staged files, the system's own units and /bin/kill, so
    # that verify checks ExecStart= against the staged binary
    root = str(tmp_path / "root")
    shutil.copytree(staged, root, symlinks=True)
    os.makedirs(root + "/usr/lib/systemd", exist_ok=True)
    shutil.copytree("/usr/lib/systemd/system", root + "/usr/lib/systemd/system", symlinks=True)
    os.makedirs(root + "/usr/bin", exist_ok=True)
    shutil.copy("/usr/bin/kill", root + "/usr/bin/kill")
    os.symlink("usr/bin", root + "/bin")
    unit = "/usr/local/lib/systemd/system/scand.service"
    r = subprocess.run([tool, "verify", "--man=no", "--root=" + root, unit], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0 and r.stdout == "", r.stdout
    # verify does look: a unit whose binary is missing fails
    os.unlink(root + "/usr/local/sbin/scand")
    r = subprocess.run([tool, "verify", "--man=no", "--root=" + root, unit], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    assert r.returncode != 0 and "not executable" in r.stdout
    text = open(root + unit).read()
    for want in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/gatehouse",
                 "PrivateTmp=yes", "ProtectHome=yes", "RuntimeDirectory=gatehouse", "Type=simple",
                 "ExecReload=/bin/kill -HUP $MAINPID",
                 "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_SYS_CHROOT CAP_DAC_OVERRIDE CAP_CHOWN"):
        assert want + "\n" in text, want


def test_postfix_setup_makes_a_working_filter(postfix_factory, scand_factory):
    """A fresh instance, wired by setup alone, hands its mail to scand and
    takes it back on the reinjection port setup created."""
    pf = postfix_factory(mode=None)
    fport, rport = ghtest.free_port(), ghtest.free_port()
    ghtest.run([PF_SETUP, "--config-dir", pf.conf, "--port", str(fport), "--reinject-port", str(rport),
                "--maxproc", "2"])
    ghtest.wait_port(rport)
    sd = scand_factory(rport, port=fport)
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="through setup"))
    raw = open(pf.wait_delivered(1)[0], "rb").read()
    assert b"Subject: through setup" in raw
    log = pf.log()
    assert "relay=127.0.0.1[127.0.0.1]:%d" % fport in log  # through scand ...
    assert "Passed CLEAN" in sd.log()
    # ... and back: one Received from the submission smtpd, one from the reinjection
    assert len(re.findall(rb"^Received: from .*\r?\n\s+by gh-test\.localdomain \(Postfix\)", raw, re.M)) == 2, raw
    # and an EICAR is caught on the way: logged, quarantined, not delivered
    eicar = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="eicar via setup",
                                                                           body=eicar + "\r\n"))
    ghtest.wait_for(lambda: "Blocked INFECTED (Eicar-Test-Signature)" in sd.log(), timeout=30,
                    what="EICAR blocked (scand log:\n%s)" % sd.log()[-2000:])
    ghtest.wait_for(lambda: pf.queue_ids() == [], timeout=30, what="Postfix queue empty")
    for path in pf.delivered():  # (an alert about it may arrive, the virus may not)
        assert b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" not in open(path, "rb").read(), path
    assert os.listdir(os.path.join(sd.quarantine, "virus"))
