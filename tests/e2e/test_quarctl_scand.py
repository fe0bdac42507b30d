"""quarctl on what scand itself produced: mail goes through a private
Postfix into scand (after-queue), EICAR and a banned attachment are
quarantined by scand; quarctl lists and shows them, releases the virus
through the same Postfix's reinjection smtpd to the recipients that did not
get it, and purges the banned one."""

import hashlib
import os

import ghtest
from qctest import QStore
from test_engines import EICAR, start_pair, with_attachment


def test_quarctl_on_scand_quarantine(postfix_factory, scand_factory, workdir):
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp", {})
    virus = ghtest.make_message(subject="scand eicar", body=EICAR.decode() + "\r\n")
    banned = with_attachment("scand exe", b"not really a program", "setup.exe")
    clean = ghtest.make_message(subject="scand clean", body="Lunch?\r\n")
    pf.send("alice@example.org", ["bob@example.com", "carol@example.com"], virus)
    pf.send("mallory@example.net", ["bob@example.com"], banned)
    pf.send("alice@example.org", ["bob@example.com"], clean)
    qs = QStore(os.path.join(workdir, "qc"), scand=sc)
    ghtest.wait_for(lambda: len(qs.json("list")) == 2 and len(pf.delivered()) == 1, timeout=60,
                    what="two quarantined, one delivered (scand log:\n%s)" % sc.log()[-2000:])

    rows = {r["category"]: r for r in qs.json("list")}
    assert set(rows) == {"virus", "banned"}
    v, b = rows["virus"], rows["banned"]
    assert "Eicar-Test-Signature" in v["virus_names"] and v["sender"] == "alice@example.org"
    assert [r["addr"] for r in v["rcpts"]] == ["bob@example.com", "carol@example.com"]
    assert all(r["destiny"] == "discard" for r in v["rcpts"])
    assert "setup.exe" in b["banned_names"]
    assert [r["mail_id"] for r in qs.json("list", "--category", "virus", "--sender", "alice@*")] == [v["mail_id"]]
    assert qs.json("list", "--since", "1h", "--category", "banned")[0]["mail_id"] == b["mail_id"]

    # show --raw gives the stored message; its hash is the one scand recorded
    raw = qs.run("show", v["mail_id"], "--raw", check=True).stdout
    stored = open(os.path.join(sc.quarantine, v["quar_path"]), "rb").read()
    assert hashlib.sha256(stored).hexdigest() == v["quar_sha256"]
    assert EICAR in raw and b"Subject: scand eicar" in raw

    # release the virus: both recipients get it with the release header
    r = qs.run("release", v["mail_id"])
    assert r.returncode == 0, r.stderr
    files = pf.wait_delivered(3)
    got = [f for f in files if b"X-Quarantine-Released: " in open(f, "rb").read()]
    assert sorted(os.path.basename(f).split(".", 1)[1] for f in got) == ["bob@example.com.eml",
                                                                         "carol@example.com.eml"]
    assert all(EICAR in open(f, "rb").read() for f in got)
    row = qs.row(v["mail_id"])
    assert row["state"] == "released"
    assert all(x["released_at"] > 0 and x["release_answer"].startswith("250 2.0.0 Ok") for x in row["rcpts"])

    # purge the banned one; stats agree
    qs.run("purge", "--yes", b["mail_id"], check=True)
    assert not os.path.exists(os.path.join(sc.quarantine, b["quar_path"]))
    stats = {(s["category"], s["state"]): s["count"] for s in qs.json("stats")}
    assert stats == {("virus", "released"): 1, ("banned", "purged"): 1}
