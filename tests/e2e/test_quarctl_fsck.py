"""quarctl fsck on a real store and quarantine tree (rows and files made
with the test tool gh-devadd, the calls scand makes): a clean tree is consistent;
an orphan file is reported and --fix moves it into lost+found; a missing
file is reported and --fix marks its row purged with an fsck event; a
tampered file is a hash mismatch, reported and never "fixed"; scand's
start-up check logs the same problems and changes nothing."""

import json
import os
import stat
import time

import pytest

import ghtest
from qctest import QStore


@pytest.fixture
def qs(workdir):
    s = QStore(os.path.join(workdir, "q"))
    s.ids = {
        "virus": s.add("virus", ghtest.make_message(subject="v"), when="1h", virus="Eicar-Test-Signature"),
        "spam": s.add("spam", ghtest.make_message(subject="s"), when="2d", score="12.0", gz=True),
        "banned": s.add("banned", ghtest.make_message(subject="b"), when="3h", banned="x.exe"),
    }
    return s


def orphan_file(qs, name="virus-20260101-000000-AbCdEfGhIjKl", sub="virus/2026/01/01", old=True):
    d = os.path.join(qs.quarantine, sub)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(b"Subject: orphan\r\n\r\nno row\r\n")
    if old:  # younger than a minute it could be a write in progress
        os.utime(p, (time.time() - 120, time.time() - 120))
    return p, os.path.join(sub, name)


def fsck(qs, *args):
    return qs.run("fsck", "--json", *args)


def test_clean_tree_is_consistent(qs):
    r = fsck(qs)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["consistent"] is True and out["problems"] == []
    assert out["rows"] == 3 and out["files"] == 3
    t = qs.run("fsck")
    assert t.returncode == 0 and t.stdout.decode().strip().endswith("0 problems, 0 fixed")


def test_orphan_reported_then_moved_to_lost_found(qs):
    path, rel = orphan_file(qs)
    young_tmp = os.path.join(qs.quarantine, "virus", "2026", "01", "01", ".tmp-abc123")
    open(young_tmp, "wb").write(b"being written")
    # renamed into place, its row not committed yet: left alone too
    young, _ = orphan_file(qs, name="virus-20260101-000001-YoUnGyOuNgXx", old=False)
    r = fsck(qs)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert [(p["kind"], p["path"], p["fixed"]) for p in out["problems"]] == [("orphan", rel, False)]
    assert os.path.exists(path)

    r = fsck(qs, "--fix")
    assert r.returncode == 0, r.stdout
    out = json.loads(r.stdout)
    assert [(p["kind"], p["fixed"]) for p in out["problems"]] == [("orphan", True)]
    lf = os.path.join(qs.quarantine, "lost+found")
    assert stat.S_IMODE(os.stat(lf).st_mode) == 0o700
    moved = os.path.join(lf, os.path.basename(path))
    assert not os.path.exists(path) and open(moved, "rb").read().startswith(b"Subject: orphan")
    assert os.path.exists(young_tmp) and os.path.exists(young)  # writes in progress are left alone
    assert fsck(qs).returncode == 0

    # an old temp file is an orphan; a second file of the same name does not replace the first
    os.utime(young_tmp, (time.time() - 120, time.time() - 120))
    os.unlink(young)
    path2, _ = orphan_file(qs)
    r = fsck(qs, "--fix")
    assert r.returncode == 0
    assert sorted(os.listdir(lf)) == sorted([os.path.basename(path), os.path.basename(path) + ".1", ".tmp-abc123"])


def test_missing_file_reported_then_marked_purged(qs):
    mid = qs.ids["spam"]
    row = qs.row(mid)
    os.unlink(os.path.join(qs.quarantine, row["quar_path"]))
    r = fsck(qs)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert [(p["kind"], p["mail_id"], p["path"]) for p in out["problems"]] == [("missing", mid, row["quar_path"])]
    assert qs.row(mid)["state"] == "quarantined"
    assert qs.sql("SELECT count(*) FROM events WHERE action = 'fsck'") == [(0,)]

    r = fsck(qs, "--fix")
    assert r.returncode == 0, r.stdout
    assert qs.row(mid)["state"] == "purged"
    ev = qs.sql("SELECT mail_id, detail, result FROM events WHERE action = 'fsck'")
    assert len(ev) == 1 and ev[0][0] == mid and ev[0][1] == row["quar_path"]
    assert "missing" in ev[0][2] and "purged" in ev[0][2]
    assert fsck(qs).returncode == 0
    assert {r["mail_id"] for r in qs.json("list")} == {qs.ids["virus"], qs.ids["banned"]}


def test_tampered_file_is_a_mismatch_never_fixed(qs):
    mid = qs.ids["virus"]
    p = qs.path_of(mid)
    data = bytearray(open(p, "rb").read())
    data[-3] ^= 0x20  # same size, other bytes
    open(p, "wb").write(bytes(data))
    mid2 = qs.ids["banned"]
    with open(qs.path_of(mid2), "ab") as f:
        f.write(b"appended\r\n")
    for args in ((), ("--fix",)):
        r = fsck(qs, *args)
        assert r.returncode == 1
        out = json.loads(r.stdout)
        got = {p["mail_id"]: p for p in out["problems"]}
        assert set(got) == {mid, mid2}
        assert all(x["kind"] == "mismatch" and not x["fixed"] for x in got.values())
        assert "sha256" in got[mid]["detail"] and "size" in got[mid2]["detail"]
    assert os.path.exists(p) and qs.row(mid)["state"] == "quarantined"
    t = qs.run("fsck").stdout.decode()
    assert "mismatch\t" in t and "3 rows, 2 problems, 0 fixed" in t


def test_scand_startup_logs_problems_and_changes_nothing(workdir):
    sc = ghtest.Scand(os.path.join(workdir, "sc"), forward_port=ghtest.free_port())
    qs = QStore(os.path.join(workdir, "q"))
    # the same store and tree scand uses
    qs.db, qs.quarantine = sc.db, sc.quarantine
    qs.set_forward(qs.forward_port)
    keep = qs.add("virus", ghtest.make_message(subject="k"), when="1h")
    gone = qs.add("spam", ghtest.make_message(subject="g"), when="1h", score="9.0")
    os.unlink(qs.path_of(gone))
    path, rel = orphan_file(qs, name="spam-20260101-000000-Esc\x1b[31mape")
    with sc:
        ghtest.wait_for(lambda: "quarantine check:" in sc.log(), timeout=30, what="check logged:\n" + sc.log())
        log = sc.log()
    assert "quarantine check: 2 files, 2 rows, 2 problems" in log
    lines = [ln for ln in log.splitlines() if "quarantine check: " in ln]
    assert any("missing" in ln and gone in ln for ln in lines)
    assert any("orphan" in ln and "spam-20260101-000000-Esc" in ln for ln in lines)
    assert "\x1b" not in log
    assert os.path.exists(path) and qs.row(gone)["state"] == "quarantined" and qs.row(keep)["state"] == "quarantined"
    assert not os.path.exists(os.path.join(sc.quarantine, "lost+found"))
