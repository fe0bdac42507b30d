"""scand-report: weekly tables, RRD and graphs, the weekly mail.

A synthetic store is filled through the real store API (bench/report_gen
load -> store_put) from lines this file writes; the expected numbers are
computed here from the same lines, independently of the SQL, and every
number of the text, CSV and JSON reports is compared exactly.
"""

import csv
import io
import json
import math
import os
import random
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from collections import Counter, defaultdict

import pytest

import ghtest

REPORT = os.path.join(ghtest.BIN, "scand-report")
GEN = os.path.join(ghtest.BUILD, "bench", "report_gen")

W46 = 1794182400  # Monday 2026-11-09 00:00 UTC
W47 = W46 + 7 * 86400
W48 = W47 + 7 * 86400
CATS = ["clean", "virus", "banned", "spam", "spammy", "badh", "unchecked", "oversized"]
DESTS = ["pass", "discard", "bounce", "reject", "tempfail"]
DEST_LABELS = ["passed", "discarded", "bounced", "rejected", "tempfailed"]
HIST = ["< 0", "0-2", "2-4", "4-6", "6-8", "8-10", "10-15", "15-20", ">= 20"]
TOP = 5
VIRUSES = ["Eicar-Test-Signature", "Win.Trojan.Agent", "Doc.Dropper.X", "Js.Downloader", "Pdf.Exploit",
           "Html.Phish", "Zip.Bomb"]
# Sunday of W47 gets a dense hour so that minutes hold several messages.
DENSE = W47 + 6 * 86400 + 14 * 3600


def _msg(rng, t):
    cat = rng.choice(CATS + ["clean"] * 4 + ["spam"] * 2)
    n = rng.randint(1, 3)
    rcpts = []
    for i in range(n):
        dest = "pass" if cat in ("clean", "spammy", "badh", "oversized", "unchecked") else rng.choice(DESTS[1:4])
        if rng.random() < 0.03:
            dest = "tempfail"
        rcpts.append(("User%d@Dom%d.example" % (rng.randint(0, 8), rng.randint(0, 3)), dest))
    viruses = ""
    if cat == "virus":
        viruses = ", ".join(rng.sample(VIRUSES[: rng.choice([3, 7])], rng.randint(1, 3)))
    banned = ""
    if cat == "banned" or (cat == "virus" and rng.random() < 0.3):
        banned = ",".join(rng.sample(["invoice.exe", "a.scr", "x.pdf.exe", "setup.msi"], rng.randint(1, 2)))
    sender = rng.choice(["", "Spam%d@Bulk%d.example" % (rng.randint(0, 6), rng.randint(0, 2)), "alice@ok.example"])
    score = "" if rng.random() < 0.2 else "%.1f" % rng.uniform(-3, 30)
    quar = "none"
    if cat in ("virus", "banned", "spam"):
        quar = rng.choice(["quarantined", "quarantined", "released", "purged"])
    reason = rng.choice(["spamd: connection refused", "clamav: timeout", ""]) if cat == "unchecked" else ""
    return {"time": t, "cat": cat, "size": rng.randint(500, 90000), "sender": sender, "rcpts": rcpts,
            "viruses": viruses, "banned": banned, "score": score, "scan_ms": rng.randint(1, 500),
            "quar": quar, "reason": reason}


def make_spec(seed=7):
    rng = random.Random(seed)
    msgs = []
    for _ in range(350):
        msgs.append(_msg(rng, rng.randrange(W46, W47)))
    for _ in range(450):
        msgs.append(_msg(rng, rng.randrange(W47, W48)))
    for _ in range(400):
        msgs.append(_msg(rng, rng.randrange(DENSE, DENSE + 3600)))
    # the edges: first second of each week, last second, and outside both
    for t in (W46 - 1, W46, W47 - 1, W47, W48 - 1, W48):
        msgs.append(_msg(rng, t))
    return msgs


def spec_line(m):
    rc = ";".join("%s=%s" % r for r in m["rcpts"])
    return "\t".join(str(x) for x in (m["time"], m["cat"], m["size"], m["sender"], rc, m["viruses"], m["banned"],
                                     m["score"], m["scan_ms"], m["quar"], m["reason"])) + "\n"


def load(db, msgs, workdir):
    spec = os.path.join(workdir, "spec-%d.tsv" % len(os.listdir(workdir)))
    with open(spec, "w") as f:
        f.writelines(spec_line(m) for m in msgs)
    r = ghtest.run([GEN, "load", db, spec])
    assert r.stdout.strip() == "%d messages" % len(msgs), r.stdout


# ---- the expected report, computed from the spec --------------------------

def pct(cur, prev):
    return None if prev == 0 else float("%.1f" % (100.0 * (cur - prev) / prev))


def change_text(cur, prev):
    if prev == 0:
        return "new" if cur else "-"
    return "%+.1f%%" % (100.0 * (cur - prev) / prev)


def share_text(part, whole):
    return "-" if whole == 0 else "%.1f%%" % (100.0 * part / whole)


def totals(msgs):
    t = {"messages": len(msgs), "recipients": sum(len(m["rcpts"]) for m in msgs),
         "bytes": sum(m["size"] for m in msgs)}
    cat = Counter(m["cat"] for m in msgs)
    dest = Counter(d for m in msgs for _, d in m["rcpts"])
    quar = {"quarantined": sum(m["quar"] != "none" for m in msgs),
            "released": sum(m["quar"] == "released" for m in msgs),
            "purged": sum(m["quar"] == "purged" for m in msgs)}
    return {"totals": t, "categories": {c: cat[c] for c in CATS},
            "destinies": {DEST_LABELS[i]: dest[d] for i, d in enumerate(DESTS)}, "quarantine": quar}


def top(counter):
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def hist_bucket(s):
    edges = [0, 2, 4, 6, 8, 10, 15, 20]
    for i, e in enumerate(edges):
        if s < e:
            return i
    return 8


def expected(all_msgs, since, until):
    cur = [m for m in all_msgs if since <= m["time"] < until]
    prev = [m for m in all_msgs if since - (until - since) <= m["time"] < since]
    e = {"cur": totals(cur), "prev": totals(prev)}
    days = []
    for d in range(since, until, 86400):
        dm = [m for m in cur if d <= m["time"] < d + 86400]
        c = Counter(m["cat"] for m in dm)
        days.append({"start": d, "messages": len(dm), "bytes": sum(m["size"] for m in dm),
                     **{k: c[k] for k in CATS}})
    e["days"] = days
    hours = Counter(m["time"] // 3600 for m in cur)
    bh = sorted(hours.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    e["busiest"] = (bh[0] * 3600, bh[1])
    spam = [m for m in cur if m["cat"] in ("spam", "spammy")]
    e["top_viruses"] = top(Counter(n.strip() for m in cur if m["cat"] == "virus"
                                   for n in m["viruses"].split(",") if n.strip()))
    e["top_banned"] = top(Counter(n for m in cur for n in m["banned"].split(",") if n))
    e["top_spam_senders"] = top(Counter(m["sender"].lower() or "<>" for m in spam))
    e["top_spam_sender_domains"] = top(Counter(m["sender"].split("@", 1)[1].lower() if "@" in m["sender"] else "<>"
                                               for m in spam))
    e["top_spam_recipients"] = top(Counter(a.lower() for m in spam for a, _ in m["rcpts"]))
    e["hosts"] = top(Counter(m.get("host") or "(unknown)" for m in cur))
    e["unchecked"] = top(Counter(m["reason"] or "(no reason recorded)" for m in cur if m["cat"] == "unchecked"))
    h = Counter(hist_bucket(float(m["score"])) for m in cur if m["score"] != "")
    e["hist"] = [h[i] for i in range(9)]
    scans = sorted(m["scan_ms"] for m in cur)
    e["scan"] = (len(scans), "%.1f" % (sum(scans) / len(scans)), scans[math.ceil(0.95 * len(scans)) - 1])
    return e


# ---- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def store():
    d = tempfile.mkdtemp(prefix="gh-report-")
    os.chmod(d, 0o755)
    db = os.path.join(d, "gatehouse.db")
    conf = os.path.join(d, "scand.conf")
    with open(conf, "w") as f:
        f.write("[scand]\ndatabase = %s\n[report]\nrrd_file = %s\ntop = %d\n" % (db, os.path.join(d, "g.rrd"), TOP))
    msgs = make_spec()
    load(db, msgs, d)
    # the host that wrote each row (schema/009): two hosts and rows from
    # before the column ('', shown "(unknown)"); ids follow the spec's order
    hosts = ("mx-a.example.net", "mx-b.example.net", "")
    for i, m in enumerate(msgs):
        m["host"] = hosts[i % 3]
    set_hosts(db, msgs)
    yield {"dir": d, "db": db, "conf": conf, "msgs": msgs}
    shutil.rmtree(d, ignore_errors=True)


# librrd draws through cairo/pango/fontconfig, built without frame pointers:
# LeakSanitizer needs the slow unwinder to see that their one-time
# allocations come from those libraries (tests/lsan.supp); it is slow, so
# only the commands that draw use it. tests/asan.supp: see there.
ENV = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0:suppressions="
           + os.path.join(ghtest.ROOT, "tests", "asan.supp"))


def report(store, *args, now=None, draws=False):
    argv = [REPORT, "-c", store["conf"]] + (["--now", str(now)] if now else []) + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                       env=ENV if draws else None)
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---- 1. the weekly report -----------------------------------------------------

def test_weekly_json_every_number(store):
    e = expected(store["msgs"], W47, W48)
    j = json.loads(report(store, "weekly", "--week", "2026-W47", "--format", "json"))
    assert j["period"] == {"label": "2026-W47", "since": W47, "until": W48, "previous_since": W46,
                           "previous_until": W47}
    for sec in ("totals", "categories", "destinies", "quarantine"):
        want = {}
        for name, cur in e["cur"][sec].items():
            prev = e["prev"][sec][name]
            want[name] = {"current": cur, "previous": prev, "change_pct": pct(cur, prev)}
            if sec == "categories":
                want[name]["share_pct"] = float(share_text(cur, e["cur"]["totals"]["messages"])[:-1])
        assert j[sec] == want, sec
    assert [dict(d, start=None) for d in j["days"]] == [
        dict({k: v for k, v in d.items() if k != "start"}, date=_date(d["start"]), start=None) for d in e["days"]]
    assert j["busiest_hour"] == {"start": _iso(e["busiest"][0]), "messages": e["busiest"][1]}
    for key in ("top_viruses", "top_banned", "top_spam_senders", "top_spam_sender_domains",
                "top_spam_recipients", "hosts", "unchecked"):
        assert [(x["name"], x["count"]) for x in j[key]] == e[key], key
    assert [x["messages"] for x in j["spam_score_histogram"]] == e["hist"]
    assert [x["bucket"] for x in j["spam_score_histogram"]] == HIST
    n, mean, p95 = e["scan"]
    assert j["scan_time"] == {"messages": n, "mean_ms": float(mean), "p95_ms": p95}
    # the test data must exercise what it claims to
    assert e["cur"]["totals"]["messages"] != e["prev"]["totals"]["messages"]
    assert len(e["top_viruses"]) == TOP and e["top_viruses"][0][1] > e["top_viruses"][-1][1]


def _date(t):
    import time
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def _iso(t):
    import time
    return time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(t))


def test_weekly_csv_every_number(store):
    e = expected(store["msgs"], W47, W48)
    rows = list(csv.reader(io.StringIO(report(store, "weekly", "--week", "2026-W47", "--format", "csv"))))
    assert rows[0] == ["section", "item", "field", "value"]
    want = [["period", "current", "label", "2026-W47"], ["period", "current", "since", str(W47)],
            ["period", "current", "until", str(W48)], ["period", "previous", "since", str(W46)],
            ["period", "previous", "until", str(W47)]]
    for sec in ("totals", "categories", "destinies", "quarantine"):
        for name, cur in e["cur"][sec].items():
            prev = e["prev"][sec][name]
            want += [[sec, name, "current", str(cur)], [sec, name, "previous", str(prev)],
                     [sec, name, "change", change_text(cur, prev)]]
            if sec == "categories":
                want.append([sec, name, "share", share_text(cur, e["cur"]["totals"]["messages"])])
    for d in e["days"]:
        day = _date(d["start"])
        want += [["day", day, "messages", str(d["messages"])], ["day", day, "bytes", str(d["bytes"])]]
        want += [["day", day, c, str(d[c])] for c in CATS]
    want.append(["busiest_hour", _iso(e["busiest"][0]).replace(":00:00Z", ":00Z"), "messages", str(e["busiest"][1])])
    for key in ("top_viruses", "top_banned", "top_spam_senders", "top_spam_sender_domains", "top_spam_recipients",
                "hosts"):
        want += [[key, name, "count", str(n)] for name, n in e[key]]
    want += [["spam_score", HIST[i], "messages", str(n)] for i, n in enumerate(e["hist"])]
    n, mean, p95 = e["scan"]
    want += [["scan_time", "all", "messages", str(n)], ["scan_time", "all", "mean_ms", mean],
             ["scan_time", "all", "p95_ms", str(p95)]]
    want += [["unchecked", name, "count", str(c)] for name, c in e["unchecked"]]
    assert rows[1:] == want


def _line_tokens(text):
    return [line.split() for line in text.splitlines()]


def test_weekly_text_every_number(store):
    e = expected(store["msgs"], W47, W48)
    text = report(store, "weekly", "--week", "2026-W47")
    lines = _line_tokens(text)
    assert text.startswith("Gatehouse mail report 2026-W47\n")
    assert max(len(x) for x in text.splitlines()) <= 76
    assert "Period:   2026-11-16 00:00 to 2026-11-23 00:00 UTC" in text
    assert "Previous: 2026-11-09 00:00 to 2026-11-16 00:00 UTC" in text
    for sec in ("totals", "categories", "destinies", "quarantine"):
        for name, cur in e["cur"][sec].items():
            prev = e["prev"][sec][name]
            row = [name, str(cur)]
            if sec == "categories":
                row.append(share_text(cur, e["cur"]["totals"]["messages"]))
            row += [str(prev), change_text(cur, prev)]
            assert row in lines, row
    import time
    for d in e["days"]:
        other = d["badh"] + d["unchecked"] + d["oversized"]
        row = time.strftime("%a %Y-%m-%d", time.gmtime(d["start"])).split() + [
            str(d[k]) for k in ("messages", "clean", "virus", "banned", "spam", "spammy")] + [str(other)]
        assert row in lines, row
    bh = time.strftime("%Y-%m-%d %H:00", time.gmtime(e["busiest"][0]))
    assert "Busiest hour: %s UTC, %d messages" % (bh, e["busiest"][1]) in text
    # the top-viruses table: its rows in order, right under its title
    i = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("Top viruses")))
    assert lines[i + 1: i + 1 + TOP] == [[n, str(c)] for n, c in e["top_viruses"]]
    assert len(e["hosts"]) == 3  # the data has both hosts and unknown rows
    i = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("Messages per host")))
    assert lines[i + 1: i + 4] == [[n, str(c)] for n, c in e["hosts"]]
    for key in ("top_banned", "top_spam_senders", "top_spam_sender_domains", "top_spam_recipients", "unchecked"):
        for name, c in e[key]:
            assert name.split() + [str(c)] in lines, (key, name)
    for i, n in enumerate(e["hist"]):
        assert any(x[: len(HIST[i].split()) + 1] == HIST[i].split() + [str(n)] for x in lines), HIST[i]
    n, mean, p95 = e["scan"]
    assert "Scan time: mean %s ms, p95 %d ms (%d messages)" % (mean, p95, n) in text


def test_weekly_since_until_and_errors(store):
    since, until = W47 + 86400, W47 + 3 * 86400 + 3600
    e = expected(store["msgs"], since, until)
    j = json.loads(report(store, "weekly", "--since", "2026-11-17", "--until", "2026-11-19 01:00",
                          "--format", "json"))
    assert (j["period"]["since"], j["period"]["until"]) == (since, until)
    assert j["totals"]["messages"]["current"] == e["cur"]["totals"]["messages"]
    assert j["totals"]["messages"]["previous"] == e["prev"]["totals"]["messages"]
    assert len(j["days"]) == 3
    # the default period is the last complete ISO week
    j = json.loads(report(store, "weekly", "--format", "json", now=W48 + 3600))
    assert j["period"]["label"] == "2026-W47"
    html = report(store, "weekly", "--week", "2026-W47", "--format", "html")
    assert html.startswith("<!DOCTYPE html>") and "<td>Eicar-Test-Signature</td>" in html
    # --since alone now runs to now (issue 15); --until alone and trailing garbage are refused
    for bad in (["--week", "2026-W54"], ["--week", "x"], ["--format", "xml"], ["--until", "2026-11-17"],
                ["--since", "2026-11-17x"], ["--since", "7x"]):
        r = subprocess.run([REPORT, "-c", store["conf"], "weekly"] + bad, capture_output=True, text=True)
        assert r.returncode == 2, bad


# ---- 2. the RRD -----------------------------------------------------------------

def fetch(rrd, start, end, res=60):
    r = ghtest.run(["rrdtool", "fetch", rrd, "AVERAGE", "-r", str(res), "-s", str(start), "-e", str(end)])
    lines = r.stdout.splitlines()
    names = lines[0].split()
    out = {}
    for line in lines[2:]:
        t, vals = line.split(":", 1)
        out[int(t)] = dict(zip(names, [float(v) for v in vals.split()]))
    return out


def minute_counts(msgs, placement=None):
    """{minute end: {ds: count}}; placement maps a message index to another minute start."""
    c = defaultdict(Counter)
    for i, m in enumerate(msgs):
        minute = (placement or {}).get(i, m["time"] // 60 * 60) + 60
        c[minute][m["cat"]] += 1
        dests = [d for _, d in m["rcpts"]]
        if "pass" in dests:
            c[minute]["passed"] += 1
        elif any(d in ("discard", "bounce", "reject") for d in dests):
            c[minute]["blocked"] += 1
    return c


DS = CATS + ["passed", "blocked"]


def assert_minutes(rrd, want, start, end):
    got = fetch(rrd, start, end)
    checked = 0
    for t, vals in got.items():
        if not start < t <= end:
            continue
        for ds in DS:
            assert vals[ds] == want.get(t, {}).get(ds, 0), (t, ds, vals[ds], want.get(t, {}).get(ds, 0))
        checked += 1
    assert checked >= (end - start) // 60 - 1


def rrd_store(store, tmp_path, msgs):
    """A store of its own in tmp_path with msgs and an RRD r.rrd: (dir, db, rrd, store dict)."""
    d = str(tmp_path)
    os.chmod(d, 0o755)
    db, rrd = os.path.join(d, "r.db"), os.path.join(d, "r.rrd")
    conf = os.path.join(d, "r.conf")
    with open(conf, "w") as f:
        f.write("[scand]\ndatabase = %s\n[report]\nrrd_file = %s\n" % (db, rrd))
    load(db, msgs, d)
    return d, db, rrd, dict(store, conf=conf)


def set_hosts(db, msgs):
    """Write each message's host (ids follow msgs' order)."""
    with sqlite3.connect(db) as c:
        c.executemany("UPDATE msgs SET host = ? WHERE id = ?", [(m["host"], i + 1) for i, m in enumerate(msgs)])


def test_rrd_update_exactly_once(store, tmp_path):
    msgs = store["msgs"]
    d, db, rrd, st = rrd_store(store, tmp_path, msgs)
    now1 = DENSE + 1800 + 30  # in the middle of the dense hour
    report(st, "rrd-update", now=now1)
    assert os.path.exists(rrd)
    now2 = W48 + 600
    report(st, "rrd-update", now=now2)
    want = minute_counts(msgs)
    window = (now2 // 60 * 60 - 60 - 1400 * 60, now2 // 60 * 60 - 60)
    assert_minutes(rrd, want, *window)
    assert sum(want[t]["spam"] for t in want if window[0] < t <= window[1]) > 50
    # twice: nothing counted again
    report(st, "rrd-update", now=now2)
    report(st, "rrd-update", now=now2 + 30)
    assert_minutes(rrd, want, *window)
    # the 30-minute archive holds the average per minute of the whole week
    got = fetch(rrd, W47 + 1800, W48 - 1800, res=1800)
    for t, vals in got.items():
        if W47 + 3600 <= t <= W48 - 3600:
            n = sum(want[m]["clean"] for m in range(t - 1800 + 60, t + 60, 60))
            assert abs(vals["clean"] - n / 30.0) < 1e-9, t
    # a rebuild from scratch gives the same values
    report(st, "rrd-update", "--rebuild", now=now2 + 30)
    assert_minutes(rrd, want, *window)

    # late arrivals: messages of minutes already written are counted once,
    # in the first minute not yet written (the rule in rrd.c)
    state = ghtest.run(["sqlite3", db, "SELECT last_minute FROM report_rrd"]).stdout.split()
    last_minute = int(state[0])
    rng = random.Random(3)
    late = [_msg(rng, last_minute - 120 - i * 60) for i in range(5)]
    fresh = [_msg(rng, last_minute + 90)]
    load(db, late + fresh, d)
    now3 = last_minute + 600
    report(st, "rrd-update", now=now3)
    every = msgs + late + fresh
    placement = {len(msgs) + i: last_minute for i in range(len(late))}
    window = (now3 // 60 * 60 - 60 - 1400 * 60, now3 // 60 * 60 - 60)
    assert_minutes(rrd, minute_counts(every, placement), *window)
    report(st, "rrd-update", now=now3)
    assert_minutes(rrd, minute_counts(every, placement), *window)
    # and --rebuild puts them back where they belong
    report(st, "rrd-update", "--rebuild", now=now3)
    assert_minutes(rrd, minute_counts(every), *window)
    # a deleted RRD is noticed and rebuilt
    os.unlink(rrd)
    report(st, "rrd-update", now=now3 + 60)
    assert_minutes(rrd, minute_counts(every), window[0] + 60, window[1] + 60)


def host_files(d, stem):
    return sorted(f for f in os.listdir(d) if f.startswith(stem + ".host-") and f.endswith(".rrd"))


def graph_legend(st, period, now, out):
    """The legend of the hosts graph (graph --verbose): [(name, msgs)]."""
    text = report(st, "graph", "--period", period, "--out", out, "--verbose", now=now, draws=True)
    line = next(x for x in text.splitlines() if x.startswith(os.path.join(out, "gatehouse-%s-hosts.png:" % period)))
    items = [x.strip() for x in line.split(":", 1)[1].split("|")]
    assert len(items) % 2 == 0, items
    return [(items[i], int(items[i + 1].split()[0])) for i in range(0, len(items), 2)]


def test_rrd_per_host(store, tmp_path):
    msgs = [dict(m) for m in store["msgs"]]  # hosts mx-a, mx-b and '' in turn (the fixture)
    d, db, rrd, st = rrd_store(store, tmp_path, msgs)
    set_hosts(db, msgs)
    now = W48 + 600
    report(st, "rrd-update", now=now)
    names = {"mx-a.example.net": "mx-a.example.net", "mx-b.example.net": "mx-b.example.net", "": "_unknown_"}
    assert host_files(d, "r") == sorted("r.host-%s.rrd" % n for n in names.values())
    window = (now // 60 * 60 - 60 - 1400 * 60, now // 60 * 60 - 60)
    for host, name in names.items():
        want = minute_counts([m for m in msgs if m["host"] == host])
        assert sum(want[t]["clean"] for t in want if window[0] < t <= window[1]) > 10
        assert_minutes(os.path.join(d, "r.host-%s.rrd" % name), want, *window)
    # the total is unchanged by the split
    assert_minutes(rrd, minute_counts(msgs), *window)

    # the hosts graph: one line per host, no "other" with three hosts; the
    # numbers are each host's messages of the week (30-minute rows: the
    # edges of the period may gain or lose a row's share)
    out = os.path.join(d, "graphs")
    legend = graph_legend(st, "week", now, out)
    assert png_size(os.path.join(out, "gatehouse-week-hosts.png")) == (620, 280)
    assert sorted(n for n, _ in legend) == sorted(names.values())
    for host, name in names.items():
        n = sum(1 for m in msgs if m["host"] == host and now - 7 * 86400 <= m["time"] < now)
        got = dict(legend)[name]
        assert abs(got - n) <= 3, (name, got, n)
    assert [c for _, c in legend] == sorted((c for _, c in legend), reverse=True)

    # nine hosts of different volumes (one with a name that needs
    # sanitising and bounding): the six busiest are drawn, most first,
    # the rest is "other"; a rebuild removes the files of the old hosts
    odd = "bad host:%s/" + "x" * 80
    hosts = ["mx%d.example.net" % k for k in range(8)] + [odd]
    seq = [k for k in range(9) for _ in range(9 - k)]
    for i, m in enumerate(msgs):
        m["host"] = hosts[seq[i % len(seq)]]
    set_hosts(db, msgs)
    report(st, "rrd-update", "--rebuild", now=now)
    safe = "bad_host__s_" + "x" * 52
    assert host_files(d, "r") == sorted("r.host-%s.rrd" % n for n in hosts[:8] + [safe])
    for host in hosts:
        name = safe if host == odd else host
        assert_minutes(os.path.join(d, "r.host-%s.rrd" % name),
                       minute_counts([m for m in msgs if m["host"] == host]), *window)
    legend = graph_legend(st, "week", now, out)
    assert [n for n, _ in legend] == hosts[:6] + ["other"]
    week = [m for m in msgs if now - 7 * 86400 <= m["time"] < now]
    n_other = sum(1 for m in week if m["host"] not in hosts[:6])
    assert abs(dict(legend)["other"] - n_other) <= 3, (legend, n_other)
    assert abs(sum(c for _, c in legend) - len(week)) <= 3


# ---- 3. graphs -----------------------------------------------------------------------

def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])


def test_graphs_four_periods(store):
    now = W48 + 600
    report(store, "rrd-update", "--rebuild", now=now)
    out = os.path.join(store["dir"], "graphs")
    os.makedirs(out, exist_ok=True)
    for p in ("day", "week", "month", "year"):
        report(store, "graph", "--period", p, "--out", out, "--width", "640", "--height", "300", now=now,
               draws=True)
        for kind in ("", "-flow", "-hosts"):
            path = os.path.join(out, "gatehouse-%s%s.png" % (p, kind))
            assert png_size(path) == (640, 300)
            assert os.path.getsize(path) > 5000
    r = subprocess.run([REPORT, "-c", store["conf"], "graph", "--period", "decade", "--out", out],
                       capture_output=True, text=True)
    assert r.returncode == 2


# ---- 4. the weekly mail through Postfix --------------------------------------------------

@pytest.fixture
def postfix_big(postfix_factory):
    """A private Postfix delivering to files (the report mail is ~70 KB)."""
    return postfix_factory()


def test_weekly_mail_through_postfix(store, postfix_big, workdir):
    pf = postfix_big
    conf = os.path.join(workdir, "mail.conf")
    with open(conf, "w") as f:
        f.write("[scand]\ndatabase = %s\n[report]\nrrd_file = %s\nadmins = admin@example.com, boss@example.net\n"
                "top = %d\n[notify]\nforward = 127.0.0.1:%d\nfrom = \"Gatehouse\" <reports@gh-test.example>\n"
                % (store["db"], os.path.join(workdir, "m.rrd"), TOP, pf.smtpd_port))
    st = dict(store, conf=conf)
    report(st, "weekly", "--mail", now=W48 + 7200, draws=True)
    files = pf.wait_delivered(2)
    assert {os.path.basename(p).split(".", 1)[1] for p in files} == {"admin@example.com.eml",
                                                                    "boss@example.net.eml"}
    e = expected(store["msgs"], W47, W48)
    msg = ghtest.parse_mail(files[0])
    assert msg.get_content_type() == "multipart/related"
    assert msg["Subject"].startswith("Gatehouse mail report 2026-W47: %d messages" % e["cur"]["totals"]["messages"])
    assert msg["From"].addresses[0].addr_spec == "reports@gh-test.example"
    alt, *images = msg.iter_parts()
    assert alt.get_content_type() == "multipart/alternative"
    plain, html = alt.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content() == report(st, "weekly", "--week", "2026-W47")
    assert len(images) == 3 and all(i.get_content_type() == "image/png" for i in images)
    body = html.get_content()
    for img in images:
        cid = img["Content-ID"].strip("<>")
        assert 'src="cid:%s"' % cid in body
        data = img.get_content()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # an address that could end the SMTP command is refused before sending
    r = subprocess.run([REPORT, "-c", conf, "--now", str(W48 + 7200), "weekly", "--mail=x@example.com,a>\r\nRSET"],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 1 and "bad address" in r.stderr
    assert len(pf.delivered()) == 2
    # a refused connection is an error, not a silent success
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(re.sub(r"forward = 127.0.0.1:\d+", "forward = 127.0.0.1:%d" % ghtest.free_port(), text))
    r = subprocess.run([REPORT, "-c", conf, "--now", str(W48 + 7200), "weekly", "--mail"], capture_output=True,
                       text=True, env=ENV)
    assert r.returncode == 1 and "report mail" in r.stderr
