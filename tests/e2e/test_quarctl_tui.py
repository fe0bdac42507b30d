"""quarctl's TUI in a real terminal (tmux, 80x24): filter to viruses, open a
detail view, release one message and purge another through the keys, then
check the store and the file Postfix delivered. A subject carrying an OSC
escape sequence is shown neutralised and does not retitle the terminal;
new mail appears without a restart; the host that wrote a row is the last
column and in the detail view; a resize redraws the layout; a bidi
or invisible format character in a name is spelled out (<U+202E>)."""

import os
import subprocess
import time
import uuid

import pytest

import ghtest
from qctest import QUARCTL, QStore

PWNED = "\x1b]0;pwned\x07"

class Tmux:
    """One private tmux server (own socket) running quarctl in an 80x24 pane."""

    def __init__(self, conf):
        self.sock = "gh-qc-" + uuid.uuid4().hex[:10]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        cmd = "exec %s -c %s 2>%s.err" % (QUARCTL, conf, conf)
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24",
                        "-s", "qc", cmd], check=True, env=env)
        subprocess.run(["tmux", "-L", self.sock, "set-option", "-g", "remain-on-exit", "on"], check=False)

    def t(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=10)

    def keys(self, *keys):
        self.t("send-keys", "-t", "qc", *keys)

    def screen(self):
        return self.t("capture-pane", "-p", "-t", "qc").stdout

    def wait(self, pred, what, timeout=15):
        last = [""]

        def check():
            last[0] = self.screen()
            return pred(last[0])
        try:
            ghtest.wait_for(check, timeout=timeout, step=0.1, what=what)
            return last[0]
        except TimeoutError:
            raise AssertionError("screen never showed %s; last screen:\n%s" % (what, last[0]))

    def wait_text(self, text, timeout=15):
        return self.wait(lambda s: text in s, repr(text), timeout)

    def wait_all(self, present, absent=(), timeout=15):
        """Wait for one screen that has every text of present and none of absent
        (one condition, so a half-drawn screen cannot pass or fail it)."""
        return self.wait(lambda s: all(t in s for t in present) and not any(t in s for t in absent),
                         "%r and not %r" % (present, absent), timeout)

    def title(self):
        return self.t("display-message", "-p", "-t", "qc", "#{pane_title}").stdout.strip()

    def dead(self):
        r = self.t("display-message", "-p", "-t", "qc", "#{pane_dead}", check=False)
        return r.returncode != 0 or r.stdout.strip() == "1"

    def close(self):
        self.t("kill-server", check=False)


@pytest.fixture
def tui(workdir, postfix_factory):
    pf = postfix_factory()
    qs = QStore(os.path.join(workdir, "q"), forward_port=pf.reinject_port)
    ids = {
        "v1": qs.add("virus", ghtest.make_message(subject="TUI virus one", body="tui body one\r\n"), when="1h",
                     virus="Eicar-Test-Signature", rcpts=("a@example.com",), sender="x@evil.test"),
        "v2": qs.add("virus", ghtest.make_message(subject="TUI virus two"), when="2h", virus="Win.Test.Two",
                     rcpts=("b@example.com",)),
        "s1": qs.add("spam", ghtest.make_message(subject="x"), when="30m", subject=PWNED, score="20"),
        "b1": qs.add("banned", ghtest.make_message(subject="TUI banned"), when="3h", banned="x.exe"),
    }
    tm = Tmux(qs.conf)
    yield pf, qs, ids, tm
    tm.close()


def test_tui_filter_detail_release_purge(tui):
    pf, qs, ids, tm = tui
    # the escape sequence is shown as text, never sent to the terminal
    tm.wait_all(("?]0;pwned?", "TUI banned", "all/quarantined", "virus 2 banned 1 spam 1"))
    assert tm.screen().splitlines()[0].rstrip().endswith("HOST")  # the host is the last column
    assert "pwned" not in tm.title()

    # new quarantined mail appears without a restart (poll every 2 s)
    qs.add("spam", ghtest.make_message(subject="fresh arrival"), score="11")
    tm.wait_text("fresh arrival", timeout=10)

    # f: all -> virus
    tm.keys("f")
    tm.wait_all(("virus/quarantined", "TUI virus one", "TUI virus two"),
                absent=("pwned", "TUI banned", "fresh arrival"))

    # Enter: detail of the newest virus
    tm.keys("Enter")
    tm.wait_all(("---- headers ----", "Mail-ID:     %s" % ids["v1"], "Verdict:     Eicar-Test-Signature",
                 "Subject: TUI virus one", "tui body one", "Kept in:     files",
                 "Host:        " + qs.row(ids["v1"])["host"]))

    # r, y: release it
    tm.keys("r")
    tm.wait_text("Release %s?" % ids["v1"])
    tm.keys("y")
    tm.wait_text("released to a@example.com: 250")
    tm.keys("q")
    # back in the list: v1 left the quarantined view, the cursor is on v2
    scr = tm.wait(lambda s: "TUI virus one" not in s and "TUI virus two" in s and "virus/quarantined" in s,
                  "the list without v1")

    # p, y: purge v2
    tm.keys("p")
    tm.wait_text("Purge %s?" % ids["v2"])
    tm.keys("y")
    tm.wait_text("%s: purged" % ids["v2"])

    # s: the released view; releasing v1 again asks, and "n" sends nothing
    tm.keys("s")
    tm.wait_all(("virus/released", "TUI virus one"))
    tm.keys("r")
    tm.wait_text("Release %s?" % ids["v1"])
    tm.keys("y")
    tm.wait_text("%s was released already. Release again? y/N" % ids["v1"])
    tm.keys("n")
    tm.wait_text("nothing released")
    tm.keys("q")
    ghtest.wait_for(tm.dead, timeout=10, what="quarctl to quit")

    # the store and the delivered file
    v1 = qs.row(ids["v1"])
    assert v1["state"] == "released"
    assert v1["rcpts"][0]["release_answer"].startswith("250 2.0.0 Ok")
    files = pf.wait_delivered(1)
    raw = open(files[0], "rb").read()
    assert os.path.basename(files[0]).endswith(".a@example.com.eml")
    assert b"X-Quarantine-Released: " in raw and ghtest.body_of(raw) == b"tui body one\n"
    v2 = qs.row(ids["v2"])
    assert v2["state"] == "purged"
    assert not os.path.exists(os.path.join(qs.quarantine, v2["quar_path"]))
    ev = qs.sql("SELECT mail_id, action, result FROM events ORDER BY id")
    assert [(e[0], e[1]) for e in ev] == [(ids["v1"], "release"), (ids["v2"], "purge")]
    assert ev[0][2].startswith("ok: 250") and ev[1][2] == "ok"
    assert qs.row(ids["s1"])["state"] == "quarantined" and qs.row(ids["b1"])["state"] == "quarantined"


def test_tui_marks_search_resize_and_help(tui):
    pf, qs, ids, tm = tui
    tm.wait_text("TUI banned")
    # search by subject
    tm.keys("/")
    tm.wait_text("Search")
    tm.keys("virus t", "Enter")
    tm.wait_all(("all/quarantined /virus t  1/1", "TUI virus two"), absent=("TUI virus one", "TUI banned"))
    # clear the search, mark the two viruses (rows 2 and 3: newest first after the spam)
    tm.keys("/")
    tm.wait_text("Search")
    tm.keys("Enter")
    tm.wait(lambda s: "/virus t" not in s and "TUI banned" in s, "the list without the search")
    tm.keys("f")
    tm.wait_text("virus/quarantined")
    tm.keys("Space", "Space")
    tm.wait_text("marked 2")
    tm.keys("P")
    tm.wait_text("Purge 2 marked messages?")
    tm.keys("y")
    tm.wait_text("2 of 2 purged")
    assert qs.row(ids["v1"])["state"] == "purged" and qs.row(ids["v2"])["state"] == "purged"
    # a resize to 100 columns shows the full state column; back to 80
    tm.t("resize-window", "-t", "qc", "-x", "100", "-y", "30")
    tm.wait_text("STATE")
    tm.t("resize-window", "-t", "qc", "-x", "80", "-y", "24")
    tm.wait(lambda s: "STATE" not in s and " S " in s.splitlines()[0], "the 80-column header")
    tm.keys("?")
    tm.wait_text("quarctl - keys")
    tm.keys("x")
    tm.wait_text("virus/quarantined")
    tm.keys("q")
    ghtest.wait_for(tm.dead, timeout=10, what="quarctl to quit")
    assert open(qs.conf + ".err").read() == ""


def test_tui_spells_out_format_characters(tui):
    """photo<RLO>gpj.exe would show as photoexe.jpg: the list and the detail
    view show it spelled out, never the raw character."""
    pf, qs, ids, tm = tui
    rlo = "photo\u202egpj.exe"
    tm.wait_text("TUI banned")
    qs.add("banned", ghtest.make_message(subject="x"), subject=rlo, banned=rlo, rcpts=("c@example.com",))
    tm.wait_text("photo<U+202E>gpj.exe", timeout=10)
    tm.keys("f")
    tm.keys("f")
    tm.wait_all(("banned/quarantined", "photo<U+202E>gpj.exe", "TUI banned"), absent=("TUI virus",))
    tm.keys("Enter")  # the newest banned message: ours
    scr = tm.wait_all(("Verdict:     photo<U+202E>gpj.exe", "Recipient:   c@example.com"))
    assert "\u202e" not in scr
