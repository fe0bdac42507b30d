"""make demo under tmux: it reaches the quarctl screen, q ends it, and
nothing it started is left running."""

import os
import re
import subprocess
import time
import uuid

import ghtest


def tmux(*args, check=True):
    return subprocess.run(["tmux"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=check).stdout


def pane(name, history=False, saved=False):
    """The visible screen; with history its scrollback too; with saved the
    normal screen that a full-screen program (quarctl) has covered."""
    args = ["-S", "-"] if history else []
    if saved:
        args.append("-a")
    return tmux("capture-pane", "-p", "-t", name, *args, check=False)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def test_make_demo_reaches_quarctl_and_cleans_up():
    name = "gh-demo-" + uuid.uuid4().hex[:8]
    tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "50",
         "cd %s && make demo; echo DEMO-EXIT=$?; sleep 600" % ghtest.ROOT)
    try:
        # the build is normally up to date; spamd and the samples take seconds
        text = ghtest.wait_for(lambda: (lambda t: t if "? help" in t else None)(pane(name)), timeout=600, step=0.5,
                               what="the quarctl screen (pane:\n%s)" % pane(name, history=True)[-3000:])
        assert "TIME (UTC)" in text
        assert "virus 1 banned 1 spam 1" in text, text  # quarctl shows the three it stopped
        before = pane(name, saved=True)
        m = re.search(r"scand: pid (\d+), log (/tmp/gh-demo-[^/]+)/", before)
        assert m, before[-3000:]
        scand_pid, base = int(m.group(1)), m.group(2)
        spamd_pid = read_pid(os.path.join(base, "spamd", "spamd.pid"))
        master_pid = read_pid(os.path.join(base, "postfix", "queue", "pid", "master.pid"))
        assert all(p and alive(p) for p in (scand_pid, spamd_pid, master_pid))

        tmux("send-keys", "-t", name, "q")
        out = ghtest.wait_for(lambda: (lambda t: t if "DEMO-EXIT=" in t else None)(pane(name, history=True)),
                              timeout=60, what="the demo to end")
        assert "DEMO-EXIT=0" in out, out[-3000:]
        # what happened to each sample was printed before quarctl opened
        rows = {l.split()[0]: l.split() for l in out.splitlines()
                if l.split() and l.split()[0] in ("clean", "EICAR", "banned", "GTUBE")}
        assert set(rows) == {"clean", "EICAR", "banned", "GTUBE"}, out[-3000:]
        assert rows["clean"][2:5] == ["CLEAN", "none", "yes"], rows["clean"]
        for label, cat in (("EICAR", "VIRUS"), ("banned", "BANNED"), ("GTUBE", "SPAM")):
            assert rows[label][2:5] == [cat, "quarantined", "no"], rows[label]
        # the recipients were told, from the templates, through Postfix
        assert "virus-recipient to bob@example.com (sent)" in " ".join(rows["EICAR"]), rows["EICAR"]
        assert "banned-recipient to bob@example.com (sent)" in " ".join(rows["banned"]), rows["banned"]
        assert "stopped spamd, Postfix and scand" in out
        # nothing left behind
        time.sleep(0.5)
        for pid in (scand_pid, spamd_pid, master_pid):
            assert not alive(pid), pid
        left = subprocess.run(["pgrep", "-af", base], stdout=subprocess.PIPE, text=True).stdout
        assert left == "", left
        assert not os.path.exists(base)
    finally:
        tmux("kill-session", "-t", name, check=False)
