"""quarctl's subcommands on a real store and quarantine tree: list filters,
--json, show, purge, expire by age, stats, a hash mismatch refusing a
release, bad ids refused, escape sequences neutralised, bidi and invisible
format characters spelled out (<U+202E>)."""

import gzip
import json
import os
import stat

import pytest

import ghtest
from qctest import QStore

PWNED = "\x1b]0;pwned\x07"


@pytest.fixture
def qs(workdir):
    s = QStore(os.path.join(workdir, "q"))
    s.ids = {
        "virus": s.add("virus", ghtest.make_message(subject="invoice attached", body="eicar body\r\n"),
                       rcpts=("u@example.com", "v@example.com:pass"), sender="bad@evil.test", when="1h",
                       virus="Eicar-Test-Signature"),
        "banned": s.add("banned", ghtest.make_message(subject="your files"), when="2d", banned="invoice.pdf.exe",
                        rcpts=("w@example.net",)),
        "spam": s.add("spam", ghtest.make_message(subject="cheap pills", body="buy now\r\n"), when="10d",
                      score="15.5", gz=True),
        "badh": s.add("badh", ghtest.make_message(subject="old bad header"), when="40d"),
        "archive": s.add("archive", ghtest.make_message(subject="kept copy"), when="3h"),
        "pwned": s.add("spam", ghtest.make_message(subject="x"), when="5h", subject=PWNED, score="9.0"),
    }
    return s


def ids_of(rows):
    return sorted(r["mail_id"] for r in rows)


def test_list_text_is_one_tsv_line_per_message(qs):
    out = qs.run("list", check=True).stdout.decode()
    lines = out.splitlines()
    assert len(lines) == 6
    assert all(len(line.split("\t")) == 9 for line in lines)  # the host last
    first = lines[0].split("\t")  # newest first: the virus, 1h old
    assert first[0] == qs.ids["virus"]
    assert first[2:5] == ["virus", "quarantined", "bad@evil.test"]
    assert first[5] == "u@example.com,v@example.com"
    assert first[6] == "Eicar-Test-Signature"
    assert first[7] == "invoice attached"


def test_list_filters(qs):
    assert ids_of(qs.json("list", "--category", "virus")) == [qs.ids["virus"]]
    assert ids_of(qs.json("list", "--category", "archive")) == [qs.ids["archive"]]
    assert ids_of(qs.json("list", "--category", "spam")) == sorted([qs.ids["spam"], qs.ids["pwned"]])
    assert ids_of(qs.json("list", "--since", "7d")) == sorted(
        [qs.ids[k] for k in ("virus", "banned", "archive", "pwned")])
    assert ids_of(qs.json("list", "--until", "7d")) == sorted([qs.ids["spam"], qs.ids["badh"]])
    assert ids_of(qs.json("list", "--since", "7d", "--until", "1d")) == [qs.ids["banned"]]
    assert ids_of(qs.json("list", "--sender", "*@EVIL.test")) == [qs.ids["virus"]]
    assert ids_of(qs.json("list", "--rcpt", "w@*")) == [qs.ids["banned"]]
    assert ids_of(qs.json("list", "--subject", "cheap*")) == [qs.ids["spam"]]
    assert ids_of(qs.json("list", "--virus", "eicar*")) == [qs.ids["virus"]]
    assert len(qs.json("list", "--limit", "2")) == 2
    assert qs.json("list", "--state", "purged") == []
    assert len(qs.json("list", "--state", "any")) == 6
    r = qs.run("list", "--category", "nonsense")
    assert r.returncode == 2


def test_list_json_parses_with_all_fields(qs):
    rows = qs.json("list")
    assert len(rows) == 6
    v = next(r for r in rows if r["mail_id"] == qs.ids["virus"])
    assert v["virus_names"] == "Eicar-Test-Signature"
    assert v["quar_path"].startswith("virus/") and v["quar_path"].endswith(qs.ids["virus"])
    assert len(v["quar_sha256"]) == 64
    assert [x["addr"] for x in v["rcpts"]] == ["u@example.com", "v@example.com"]
    s = next(r for r in rows if r["mail_id"] == qs.ids["spam"])
    assert s["spam_score"] == 15.5 and s["quar_path"].endswith(".gz")
    p = next(r for r in rows if r["mail_id"] == qs.ids["pwned"])
    assert p["subject"] == PWNED  # JSON carries the exact text, escaped


def test_escape_sequences_are_neutralised_in_text_output(qs):
    out = qs.run("list", check=True).stdout
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"?]0;pwned?" in out
    show = qs.run("show", qs.ids["pwned"], "--headers", check=True).stdout
    assert b"\x1b" not in show and b"?]0;pwned?" in show
    js = qs.run("list", "--json", check=True).stdout
    assert b"\x1b" not in js and b"\\u001b]0;pwned\\u0007" in js


def test_format_characters_spelled_out_in_text_output(qs):
    """photo<RLO>gpj.exe reads photoexe.jpg on a terminal: list and show
    print it spelled out; JSON escapes it and still carries the exact name."""
    rlo = "photo\u202egpj.exe"
    mid = qs.add("banned", ghtest.make_message(subject="x"), when="1h", banned=rlo, subject="see " + rlo + "\u200b")
    shown = b"photo<U+202E>gpj.exe"
    out = qs.run("list", check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith(mid.encode()))
    host = qs.row(mid)["host"].encode()
    assert host and line.split(b"\t")[6:] == [shown, b"see " + shown + b"<U+200B>", host], line
    show = qs.run("show", mid, check=True).stdout
    assert b"Detail:      " + shown in show and b"Subject:     see " + shown + b"<U+200B>" in show, show
    for text in (out, show):
        assert "\u202e".encode() not in text and "\u200b".encode() not in text
    js = qs.run("list", "--json", check=True).stdout
    assert "\u202e".encode() not in js and b"photo\\u202egpj.exe" in js
    assert next(r for r in json.loads(js) if r["mail_id"] == mid)["banned_names"] == rlo


def test_show_text_headers_raw_json(qs):
    vid = qs.ids["virus"]
    out = qs.run("show", vid, check=True).stdout.decode()
    assert "Mail-ID:     %s" % vid in out
    assert "Detail:      Eicar-Test-Signature" in out
    assert "Recipient:   u@example.com discard" in out
    assert "Subject: invoice attached" not in out  # headers only with --headers
    out = qs.run("show", vid, "--headers", check=True).stdout.decode()
    assert "Subject: invoice attached" in out and "eicar body" not in out
    raw = qs.run("show", vid, "--raw", check=True).stdout
    assert raw.endswith(b"\r\n\r\neicar body\r\n") and b"Subject: invoice attached\r\n" in raw
    assert qs.row(vid)["mail_id"] == vid
    # a gzip file is shown decompressed; on disk it is gzip
    sid = qs.ids["spam"]
    assert qs.run("show", sid, "--raw", check=True).stdout.endswith(b"buy now\r\n")
    assert gzip.decompress(open(qs.path_of(sid), "rb").read()).endswith(b"buy now\r\n")
    assert qs.run("show", "AAAAAAAAAAAA").returncode == 3


def test_quarantine_files_are_private(qs):
    p = qs.path_of(qs.ids["virus"])
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode) == 0o700


def test_purge_removes_file_keeps_row_and_audits(qs):
    vid = qs.ids["virus"]
    path = qs.path_of(vid)
    # not confirmed (no tty, no --yes): nothing happens
    r = qs.run("purge", vid)
    assert r.returncode == 2 and os.path.exists(path)
    r = qs.run("purge", "--yes", vid, check=True)
    assert b"purged" in r.stdout
    assert not os.path.exists(path)
    row = qs.row(vid)
    assert row["state"] == "purged" and row["virus_names"] == "Eicar-Test-Signature"
    ev = qs.sql("SELECT action, who, detail, result FROM events WHERE mail_id = ?", vid)
    assert len(ev) == 1 and ev[0][0] == "purge" and ev[0][1] and ev[0][3] == "ok"
    # twice: refused, exit 1
    r = qs.run("purge", "--yes", vid)
    assert r.returncode == 1 and b"nothing to purge" in r.stderr
    assert ids_of(qs.json("list", "--state", "purged")) == [vid]


def test_expire_by_age(qs):
    r = qs.run("expire", "--older-than", "30d", "--dry-run", check=True)
    assert qs.ids["badh"].encode() in r.stdout and os.path.exists(qs.path_of(qs.ids["badh"]))
    r = qs.run("expire", "--older-than", "30d", check=True)
    assert b"1 message(s) expired" in r.stdout
    assert qs.row(qs.ids["badh"])["state"] == "purged"
    assert not os.path.exists(qs.path_of(qs.ids["badh"]))
    for k in ("virus", "banned", "spam", "archive"):
        assert qs.row(qs.ids[k])["state"] == "quarantined"
    assert qs.sql("SELECT action, result FROM events WHERE mail_id = ?", qs.ids["badh"]) == [("expire", "ok")]
    # by category and a shorter age
    qs.run("expire", "--older-than", "1d", "--category", "spam", check=True)
    assert qs.row(qs.ids["spam"])["state"] == "purged"
    assert qs.row(qs.ids["banned"])["state"] == "quarantined"
    qs.run("expire", "--older-than", "1h", "--category", "archive", check=True)
    assert qs.row(qs.ids["archive"])["state"] == "purged"
    assert qs.row(qs.ids["virus"])["state"] == "quarantined"


def test_stats(qs):
    qs.run("purge", "--yes", qs.ids["badh"], check=True)
    rows = json.loads(qs.run("stats", "--json", check=True).stdout)
    got = {(r["category"], r["state"]): r["count"] for r in rows}
    assert got == {("virus", "quarantined"): 1, ("banned", "quarantined"): 1, ("spam", "quarantined"): 2,
                   ("badh", "purged"): 1, ("clean", "quarantined"): 1}
    text = qs.run("stats", check=True).stdout.decode().splitlines()
    assert "spam\tquarantined\t2\t" in "\n".join(text)
    assert text[-1].startswith("total\tall\t6\t")


def test_hash_mismatch_refuses_release(qs):
    vid = qs.ids["virus"]
    path = qs.path_of(vid)
    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0x20  # one changed byte in the body
    open(path, "wb").write(bytes(data))
    r = qs.run("release", vid)
    assert r.returncode == 1
    assert b"SHA-256 mismatch" in r.stderr and b"refused" in r.stderr
    row = qs.row(vid)
    assert row["state"] == "quarantined"
    assert all(x["released_at"] == 0 for x in row["rcpts"])
    ev = qs.sql("SELECT action, result FROM events WHERE mail_id = ?", vid)
    assert len(ev) == 1 and ev[0][0] == "release" and "SHA-256 mismatch" in ev[0][1]
    # show still works but warns and exits 1
    r = qs.run("show", vid, "--raw")
    assert r.returncode == 1 and b"mismatch" in r.stderr


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "Xq3bV9kK2mP;", "Xq3bV9kK2mPa/", "", "Xq3bV9kK2mPa\n"])
def test_bad_id_is_refused(qs, bad):
    for cmd in (["show", bad], ["release", bad], ["purge", "--yes", bad]):
        r = qs.run(*cmd)
        assert r.returncode == 4, (cmd, r.returncode, r.stderr)
        assert b"not a valid mail id" in r.stderr
    assert qs.sql("SELECT count(*) FROM events") == [(0,)]


def test_help_documents_exit_codes(qs):
    r = qs.run("--help", check=True)
    out = r.stdout.decode()
    for word in ("Exit codes", "list", "show", "release", "purge", "expire", "stats", "--json"):
        assert word in out


def test_ids_starting_with_a_dash_are_ids_not_options(qs):
    # mail ids use [A-Za-z0-9_-]: "-abc..." must reach the id check, not the option parser
    for cmd in (["show", "-unJQHFwoGSB"], ["show", "--json", "-unJQHFwoGSB"], ["purge", "-y", "-unJQHFwoGSB"],
                ["release", "--dry-run", "-unJQHFwoGSB"], ["show", "--", "-unJQHFwoGSB"]):
        r = qs.run(*cmd)
        assert r.returncode == 3 and b"-unJQHFwoGSB: not in the store" in r.stderr, (cmd, r.stderr)


@pytest.mark.parametrize("addr", ["a@b.test\r\nRSET", "a b@c.test", "<x@y.test>", ""])
def test_release_refuses_unusable_to_address(qs, addr):
    r = qs.run("release", "--dry-run", "--to", addr, qs.ids["virus"])
    assert r.returncode in (1, 2), r.stderr
    assert qs.row(qs.ids["virus"])["state"] == "quarantined"
    if addr:
        assert b"unusable address" in r.stderr
