"""Fleet preparation (issue 19) end to end through a real Postfix and scand:
[scand] quarantine_backend = database keeps an EICAR in the store (no file
in the quarantine tree) as a gzip blob whose SHA-256 in the row is of the
message as received; quarctl show gives it back byte for byte and a quarctl
whose configuration names another host releases it through Postfix; fsck
reports a corrupted and a missing blob; purge deletes the blob; scand-web's
view page shows it. Every row
carries the host that wrote it ([scand] hostname): scand's verdicts,
quarctl's audit events; quarctl list shows it as the last column and in
--json, and scand-report's per-host table counts the two hosts."""

import hashlib
import json
import os
import subprocess
import time
import zlib

import ghtest
from qctest import QStore
from test_digest_web import Web, http, make_token, read_key
from test_engines import EICAR, start_pair

REPORT = os.path.join(ghtest.BIN, "scand-report")


def files_under(d):
    return [os.path.join(p, f) for p, _, fs in os.walk(d) for f in fs]


def blob_of(qs, mail_id):
    rows = qs.sql("SELECT b.data FROM quar_blobs b JOIN msgs m ON m.id = b.msg WHERE m.mail_id = ?", mail_id)
    return rows[0][0] if rows else None


def fsck(qs):
    r = qs.run("fsck", "--json")
    return r.returncode, json.loads(r.stdout)


def conf_for_host(sc, path, host, more=None):
    """scand's configuration with another [scand] hostname (another host's
    quarctl), and more sections."""
    with open(path, "w") as f:
        for sec, kv in list(sc.conf.items()) + list((more or {}).items()):
            f.write("[%s]\n" % sec)
            f.writelines("%s = %s\n" % (k, host if (sec, k) == ("scand", "hostname") else v)
                         for k, v in kv.items())
    return path


def test_database_quarantine_and_host_columns(postfix_factory, scand_factory, workdir):
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp",
                        {"scand": {"quarantine_backend": "database", "hostname": "mx-a.test"}})
    body_a = "first virus\r\n" + EICAR.decode() + "\r\n.dot line\r\nlast\r\n"
    virus_a = ghtest.make_message(subject="fleet eicar a", body=body_a)
    virus_b = ghtest.make_message(subject="fleet eicar b", body=EICAR.decode() + "\r\n")
    pf.send("alice@example.org", ["bob@example.com", "carol@example.com"], virus_a)
    pf.send("alice@example.org", ["bob@example.com"], virus_b)
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="fleet clean"))
    qs = QStore(os.path.join(workdir, "qc"), scand=sc)
    ghtest.wait_for(lambda: len(qs.json("list", "--state", "any")) == 3 and len(pf.delivered()) == 1, timeout=60,
                    what="two quarantined, one delivered (scand log:\n%s)" % sc.log()[-2000:])
    assert files_under(sc.quarantine) == []  # nothing in the tree: the copies are in the store

    rows = {r["subject"]: r for r in qs.json("list", "--state", "any")}
    a, b = rows["fleet eicar a"], rows["fleet eicar b"]
    assert all(r["host"] == "mx-a.test" for r in rows.values())
    assert a["quar_backend"] == "database" and a["state"] == "quarantined"
    assert rows["fleet clean"]["quar_backend"] == "files" and rows["fleet clean"]["quar_path"] is None

    # the blob is gzip of the message as received; the row's hash is of that message
    blob = blob_of(qs, a["mail_id"])
    assert blob[:2] == b"\x1f\x8b" and a["quar_size"] == len(blob)
    received = zlib.decompress(blob, 16 + zlib.MAX_WBITS)
    assert hashlib.sha256(received).hexdigest() == a["quar_sha256"]
    assert hashlib.sha256(blob).hexdigest() != a["quar_sha256"]
    assert received.endswith(body_a.encode()) and b"Subject: fleet eicar a" in received

    # list: the host is the last column; show --raw gives the bytes back
    lines = [l.split("\t") for l in qs.run("list", "--state", "any", check=True).stdout.decode().splitlines()]
    assert len(lines) == 3 and all(len(l) == 9 and l[-1] == "mx-a.test" for l in lines)
    assert qs.run("show", a["mail_id"], "--raw", check=True).stdout == received
    shown = qs.run("show", a["mail_id"], check=True).stdout.decode()
    assert "Kept in:     database" in shown and "Host:        mx-a.test" in shown

    # scand-web's view page reads the store copy too
    port = ghtest.free_port()
    keyfile = os.path.join(workdir, "web.key")
    wconf = conf_for_host(sc, os.path.join(workdir, "web.conf"), "mx-a.test",
                          {"web": {"listen": "127.0.0.1:%d" % port, "secret_file": keyfile}})
    web = Web(wconf, port, os.path.join(workdir, "web.log"))
    try:
        tok = make_token(read_key(keyfile), "bob@example.com", b["mail_id"], "view", int(time.time()) + 3600)
        status, _, page = http("http://127.0.0.1:%d/view/%s" % (port, tok))
        assert status == 200 and "fleet eicar b" in page and "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in page, page
    finally:
        web.stop()

    # another host's quarctl (hostname mx-b.test) releases it through Postfix, byte for byte
    qs_b = QStore(os.path.join(workdir, "qc"), scand=sc)
    qs_b.conf = conf_for_host(sc, os.path.join(workdir, "b.conf"), "mx-b.test")
    r = qs_b.run("release", a["mail_id"])
    assert r.returncode == 0, r.stderr
    files = pf.wait_delivered(3)
    got = [f for f in files if b"X-Quarantine-Released: " in open(f, "rb").read()]
    assert len(got) == 2
    for f in got:
        raw = open(f, "rb").read()
        assert raw.endswith(received.replace(b"\r\n", b"\n")), raw[-400:]
    ev = qs.sql("SELECT host FROM events WHERE mail_id = ? AND action = 'release'", a["mail_id"])
    assert ev and all(h == "mx-b.test" for (h,) in ev)
    assert qs.sql("SELECT host FROM msgs WHERE mail_id = ?", a["mail_id"]) == [("mx-a.test",)]

    # fsck: both blobs sound; then a swapped one is a mismatch, a deleted one missing
    rc, out = fsck(qs)
    assert rc == 0 and out["consistent"] is True and out["problems"] == [], out
    with ghtest_db(qs) as c:
        c.execute("UPDATE quar_blobs SET data = ? WHERE msg = (SELECT id FROM msgs WHERE mail_id = ?)",
                  (zlib.compress(b"Subject: not it\r\n\r\nother\r\n", wbits=31), a["mail_id"]))
    rc, out = fsck(qs)
    assert rc == 1 and [(p["kind"], p["mail_id"]) for p in out["problems"]] == [("mismatch", a["mail_id"])]
    r = qs.run("release", "--force", a["mail_id"])
    assert r.returncode != 0 and b"SHA-256 mismatch" in r.stdout + r.stderr
    with ghtest_db(qs) as c:
        c.execute("DELETE FROM quar_blobs WHERE msg = (SELECT id FROM msgs WHERE mail_id = ?)", (a["mail_id"],))
    rc, out = fsck(qs)
    assert rc == 1 and [(p["kind"], p["mail_id"]) for p in out["problems"]] == [("missing", a["mail_id"])]
    assert "blob missing" in out["problems"][0]["detail"]

    # purge deletes the blob; the event names the purging host
    assert blob_of(qs, b["mail_id"]) is not None
    qs_b.run("purge", "--yes", b["mail_id"], check=True)
    assert blob_of(qs, b["mail_id"]) is None
    assert qs.row(b["mail_id"])["state"] == "purged"
    assert qs.sql("SELECT host FROM events WHERE mail_id = ? AND action = 'purge'", b["mail_id"]) == \
        [("mx-b.test",)]

    # the same scand restarted as mx-b.test: its new rows carry that name
    sc.stop()
    sc.conf["scand"]["hostname"] = "mx-b.test"
    sc.write_config()
    sc.start()
    pf.send("alice@example.org", ["bob@example.com"], ghtest.make_message(subject="fleet from b"))
    ghtest.wait_for(lambda: len(qs.json("list", "--state", "any")) == 4, timeout=60, what="the fourth row")
    assert [r["host"] for r in qs.json("list", "--state", "any") if r["subject"] == "fleet from b"] == ["mx-b.test"]

    # scand-report's per-host table
    r = subprocess.run([REPORT, "-c", sc.conf_path, "weekly", "--since", "1d", "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hosts"] == [{"name": "mx-a.test", "count": 3}, {"name": "mx-b.test", "count": 1}]


class ghtest_db:
    """A write connection to the store, for damaging it on purpose."""

    def __init__(self, qs):
        import sqlite3
        self.c = sqlite3.connect(qs.db)

    def __enter__(self):
        return self.c

    def __exit__(self, *exc):
        self.c.commit()
        self.c.close()
