"""The recipients' digest end to end: real Postfix, scand with spamd and
libclamav, scand-notify digest, scand-web and a real headless browser
(Debian's chromium with chromium-driver, through python3-selenium).

A GTUBE spam, a banned attachment and an EICAR are quarantined for bob;
the digest ([digest] categories = spam,banned,virus, self_release =
spam,banned) reaches bob's mailbox through Postfix; a plain GET of every
link changes nothing; in the browser the spam's release link shows a
confirmation page, its button releases, and the message arrives in bob's
mailbox through Postfix; the store says released with the audit event of
"recipient <bob@example.com> via digest"; a second click says "already
released" and sends nothing. "Release and allow the sender" on the
banned item adds an allow entry for bob alone (created by the recipient)
and releases it; "block the sender" on the virus adds a block entry, a
second click says "already blocked". The virus has neither a release nor
an allow link, and hand-made POSTs for them (signed with the site's key,
with a valid CSRF token) are refused 403.

Screenshots go to $GH_BUILD/tests/out/digest/ (kept after the test):
digest.png is bob's digest (its HTML part, saved as digest.html and loaded
from the file), confirm.png the release confirmation page, released.png
the page after the button.

The second test runs scand-web alone: security headers on every answer,
405, 413, 431, a tampered link 403, unknown item 404, and 429 past
[web] rate_limit. The third starts it as root: the key file it creates
is the daemon user's (0600), and the running server has that user's
uids and gids only.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import ghtest
from test_engines import EICAR, GTUBE, start_pair, with_attachment

OUT = os.path.join(ghtest.BUILD, "tests", "out", "digest")
NOTIFY = os.path.join(ghtest.BIN, "scand-notify")
WEB = os.path.join(ghtest.BIN, "scand-web")
BOB = "bob@example.com"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Web:
    """scand-web -f on a config; stopped by stop()."""

    def __init__(self, conf, port, logfile):
        self.port = port
        self.log = open(logfile, "ab")
        self.proc = subprocess.Popen([WEB, "-f", "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)
        # the port is bound before the key is read and the server started
        ghtest.wait_for(lambda: self.proc.poll() is not None or b"listening on" in open(logfile, "rb").read(),
                        timeout=30, what="scand-web started")
        assert self.proc.poll() is None, open(logfile, errors="replace").read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def http(url, data=None, method=None, headers=None):
    """(status, headers, body text) of one request; never raises on 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(key, text):
    return b64url(hmac.new(key, text.encode(), hashlib.sha256).digest())


def make_token(key, rcpt, mail_id, action, expiry):
    """A link token as common/linktok.c makes it (the site's key is needed)."""
    payload = b64url(("%s\n%s\n%d" % (rcpt, mail_id, expiry)).encode())
    return payload + "." + sign(key, "gatehouse-link-v1\n%s\n%s\n%s\n%d" % (action, rcpt, mail_id, expiry))


def make_csrf(key, token, issued):
    return "%d.%s" % (issued, sign(key, "gatehouse-link-v1\ncsrf\n%s\n%d" % (token, issued)))


def read_key(path):
    return bytes.fromhex(open(path).read().strip())


def state(db):
    """Everything an action could change."""
    return (ghtest.db_rows(db, "SELECT mail_id, quar_state FROM msgs ORDER BY id"),
            ghtest.db_rows(db, "SELECT addr, released_at, deleted_at FROM msgrcpt ORDER BY id"),
            ghtest.db_rows(db, "SELECT count(*) FROM events"),
            ghtest.db_rows(db, "SELECT * FROM lists ORDER BY id"))


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1100,900"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def digest_parts(path):
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return msg, text, html


@pytest.fixture
def site(postfix_factory, scand_factory, spamd, workdir):
    web_port = ghtest.free_port()
    key = os.path.join(workdir, "web.key")
    pf, sc = start_pair(postfix_factory, scand_factory, "smtp", {
        "spam": {"enabled": "yes", "spamd": "127.0.0.1:%d" % spamd.port},
        "digest": {"categories": "spam,banned,virus", "self_release": "spam,banned"},
        "web": {"listen": "127.0.0.1:%d" % web_port, "base_url": "http://127.0.0.1:%d/" % web_port,
                "secret_file": key, "rate_limit": "1000"},
    })
    web = Web(sc.conf_path, web_port, os.path.join(workdir, "web.log"))
    yield pf, sc, web, key
    assert web.stop() == 0


def test_digest_release_in_a_real_browser(site):
    pf, sc, web, keyfile = site
    os.makedirs(OUT, exist_ok=True)
    pf.send("spammer@example.net", [BOB], ghtest.make_message(subject="cheap offer", body=GTUBE + "\r\n",
                                                              sender="spammer@example.net"))
    pf.send("mallory@example.net", [BOB], with_attachment("the invoice", b"not a program", "invoice.exe"))
    pf.send("alice@example.org", [BOB], ghtest.make_message(subject="eicar <test>", body=EICAR.decode() + "\r\n"))
    ghtest.wait_for(lambda: len(ghtest.db_rows(sc.db, "SELECT 1 FROM msgs WHERE quar_state = 'quarantined'")) == 3,
                    timeout=90, what="three quarantined (scand log:\n%s)" % sc.log()[-2000:])
    ids = dict(ghtest.db_rows(sc.db, "SELECT category, mail_id FROM msgs"))
    assert set(ids) == {"spam", "banned", "virus"}

    quarctl = os.path.join(ghtest.BIN, "quarctl")
    r = ghtest.run([quarctl, "-c", sc.conf_path, "digest", "set", "Example.COM", "weekly"])
    assert r.stdout == "example.com: digest weekly\n"
    assert ghtest.run([quarctl, "-c", sc.conf_path, "digest", "set", "not a domain", "daily"],
                      check=False).returncode == 2
    r = ghtest.run([quarctl, "-c", sc.conf_path, "digest", "preview", BOB])
    assert "Frequency: weekly" in r.stdout and "cheap offer" in r.stdout and "the invoice" in r.stdout
    assert r.stdout.count("  Release: http://") == 2 and "(only the postmaster can release this one)" in r.stdout
    r = ghtest.run([NOTIFY, "-c", sc.conf_path, "digest", "--dry-run"])
    assert r.stdout == "bob@example.com: 3 item(s)\n"
    assert ghtest.db_rows(sc.db, "SELECT count(*) FROM outbox WHERE kind = 'digest'") == [(0,)]

    r = ghtest.run([NOTIFY, "-c", sc.conf_path, "digest"])
    assert "digests queued 1 (3 items)" in r.stdout, r.stdout + r.stderr
    assert os.stat(keyfile).st_mode & 0o777 == 0o600
    # the hourly run again: once per recipient per period
    r = ghtest.run([NOTIFY, "-c", sc.conf_path, "digest"])
    assert "digests queued 0" in r.stdout

    def digest_file():
        for p in pf.delivered(alerts=True):
            if b"Subject: Quarantine digest for bob@example.com" in open(p, "rb").read():
                return p
        return None
    path = ghtest.wait_for(digest_file, timeout=30, what="the digest in bob's mailbox")
    assert os.path.basename(path).endswith("." + BOB + ".eml")
    assert len(ghtest.db_rows(sc.db, "SELECT 1 FROM outbox WHERE kind = 'digest' AND state = 'sent'")) == 1
    msg, text, html = digest_parts(path)
    assert "3 message(s) held" in msg["Subject"]
    links = re.findall(r'href="([^"]+)"', html)
    links = [l.replace("&amp;", "&") for l in links]
    by = {a: [l for l in links if "/%s/" % a in l] for a in ("view", "release", "delete", "allow", "block")}
    assert len(by["view"]) == 3 and len(by["delete"]) == 3 and len(by["block"]) == 3
    assert len(by["release"]) == 2 and len(by["allow"]) == 2  # spam and banned; never the virus
    assert all(l in text for l in links)  # the text part has the same links
    rows = re.findall(r"<tr style=\"border-top.*?</tr>", html, re.S)
    virus_row = [row for row in rows if "<td>virus</td>" in row]
    assert len(virus_row) == 1 and "eicar &lt;test&gt;" in virus_row[0]
    assert "/release/" not in virus_row[0] and "/allow/" not in virus_row[0] and "/block/" in virus_row[0]
    banned_row = [row for row in rows if "<td>banned</td>" in row][0]
    banned_allow = re.search(r'href="([^"]*/allow/[^"]*)"', banned_row).group(1)
    virus_block = re.search(r'href="([^"]*/block/[^"]*)"', virus_row[0]).group(1)
    spam_row = [row for row in rows if "<td>spam</td>" in row][0]
    spam_release = re.search(r'href="([^"]*/release/[^"]*)"', spam_row).group(1)
    with open(os.path.join(OUT, "digest.html"), "w") as f:
        f.write(html)

    # a link scanner fetching every link changes nothing
    before = state(sc.db)
    delivered_before = len(pf.delivered())
    for link in links:
        status, hdrs, body = http(link)
        assert status == 200, (link, status, body)
        for k, v in HEADERS.items():
            assert hdrs[k] == v
    assert state(sc.db) == before
    time.sleep(1)
    assert len(pf.delivered()) == delivered_before

    drv = browser()
    try:
        drv.get("file://" + os.path.join(OUT, "digest.html"))
        drv.save_screenshot(os.path.join(OUT, "digest.png"))
        drv.get(spam_release)
        assert drv.title == "Release this message?"
        assert "cheap offer" in drv.page_source
        button = drv.find_element("id", "confirm")
        assert button.text == "Release to me"
        drv.save_screenshot(os.path.join(OUT, "confirm.png"))
        assert state(sc.db) == before  # showing the page did nothing
        button.click()
        ghtest.wait_for(lambda: drv.title in ("Released", "Not released"), timeout=30, what="the answer page")
        assert drv.title == "Released", drv.page_source
        drv.save_screenshot(os.path.join(OUT, "released.png"))

        def released_mail():
            for p in pf.delivered():
                raw = open(p, "rb").read()
                if b"X-Quarantine-Released: " in raw and b"cheap offer" in raw:
                    return p
            return None
        got = ghtest.wait_for(released_mail, timeout=30, what="the released spam in bob's mailbox")
        assert os.path.basename(got).endswith("." + BOB + ".eml")
        assert b"by recipient <bob@example.com> via digest" in open(got, "rb").read()
        assert ghtest.db_rows(sc.db, "SELECT quar_state FROM msgs WHERE mail_id = ?", ids["spam"]) == [("released",)]
        (rel_at,), = ghtest.db_rows(sc.db, "SELECT r.released_at FROM msgrcpt r JOIN msgs m ON m.id = r.msg "
                                            "WHERE m.mail_id = ?", ids["spam"])
        assert rel_at > 0
        ev = ghtest.db_rows(sc.db, "SELECT action, who, detail, substr(result, 1, 3) FROM events WHERE mail_id = ?",
                            ids["spam"])
        assert ev == [("release", "recipient <bob@example.com> via digest", BOB, "ok:")]

        # a second click: "already released", nothing sent
        drv.get(spam_release)
        assert drv.title == "Already released"
        n = len(pf.delivered())
        time.sleep(1)
        assert len(pf.delivered()) == n
    finally:
        drv.quit()
    for name in ("digest.png", "confirm.png", "released.png"):
        assert os.path.getsize(os.path.join(OUT, name)) > 1000

    # release and allow the sender (banned item): the entry for bob alone, then the release
    status, _, page = http(banned_allow)
    assert status == 200 and "Release and allow the sender" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    status, _, page = http(banned_allow, data=urllib.parse.urlencode({"csrf": csrf}).encode())
    assert status == 200 and "<title>Released</title>" in page, page
    assert ghtest.db_rows(sc.db, "SELECT scope, kind, pattern, created_by FROM lists") == [
        (BOB, "allow", "mallory@example.net", "recipient <bob@example.com> via digest")]
    ghtest.wait_for(lambda: any(b"the invoice" in open(p, "rb").read() for p in pf.delivered()), timeout=30,
                    what="the released banned message in bob's mailbox")
    assert ghtest.db_rows(sc.db, "SELECT quar_state FROM msgs WHERE mail_id = ?", ids["banned"]) == [("released",)]
    # block the sender of the virus, for bob
    status, _, page = http(virus_block)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert http(virus_block, data=urllib.parse.urlencode({"csrf": csrf}).encode())[0] == 200
    assert ghtest.db_rows(sc.db, "SELECT kind, pattern FROM lists WHERE scope = ? ORDER BY id", BOB) == [
        ("allow", "mallory@example.net"), ("block", "alice@example.org")]
    assert "Already blocked" in http(virus_block)[2]
    ev = ghtest.db_rows(sc.db, "SELECT count(*) FROM events WHERE action = 'lists-add' "
                               "AND who = 'recipient <bob@example.com> via digest'")
    assert ev == [(2,)]

    # the virus: no link to release it; a hand-made, correctly signed POST is refused
    key = read_key(keyfile)
    tok = make_token(key, BOB, ids["virus"], "release", int(time.time()) + 3600)
    url = "http://127.0.0.1:%d/release/%s" % (web.port, tok)
    form = urllib.parse.urlencode({"csrf": make_csrf(key, tok, int(time.time()))}).encode()
    before = state(sc.db)
    status, _, body = http(url, data=form)
    assert status == 403 and "virus" in body
    allow_tok = make_token(key, BOB, ids["virus"], "allow", int(time.time()) + 3600)
    form2 = urllib.parse.urlencode({"csrf": make_csrf(key, allow_tok, int(time.time()))}).encode()
    status, _, body = http("http://127.0.0.1:%d/allow/%s" % (web.port, allow_tok), data=form2)
    assert status == 403 and "virus" in body
    # the view link's token used for a release: tampered
    view_tok = by["view"][0].rsplit("/", 1)[1]
    status, _, body = http("http://127.0.0.1:%d/release/%s" % (web.port, view_tok), data=form)
    assert status == 403 and "not valid" in body
    assert state(sc.db) == before


def test_web_refusals_and_rate_limit(workdir):
    port = ghtest.free_port()
    conf = os.path.join(workdir, "scand.conf")
    keyfile = os.path.join(workdir, "web.key")
    db = os.path.join(workdir, "gatehouse.db")
    with open(conf, "w") as f:
        f.write("[scand]\nallow_root = yes\ndatabase = %s\nquarantine_dir = %s/q\n"
                "[web]\nlisten = 127.0.0.1:%d\nsecret_file = %s\nrate_limit = 8\n" % (db, workdir, port, keyfile))
    if time.time() % 60 > 45:  # the limit counts per clock minute: start early in one
        time.sleep(61 - time.time() % 60)
    web = Web(conf, port, os.path.join(workdir, "web.log"))
    try:
        base = "http://127.0.0.1:%d" % port
        key = read_key(keyfile)
        assert os.stat(keyfile).st_mode & 0o777 == 0o600
        tok = make_token(key, BOB, "AAAAAAAAAAAA", "view", int(time.time()) + 3600)
        status, hdrs, body = http(base + "/view/" + tok)
        assert status == 404 and "no longer held" in body  # a good link to an unknown item
        for k, v in HEADERS.items():
            assert hdrs[k] == v
        bad = tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")
        assert http(base + "/view/" + bad)[0] == 403
        old = make_token(key, BOB, "AAAAAAAAAAAA", "view", int(time.time()) - 10)
        status, _, body = http(base + "/view/" + old)
        assert status == 403 and "expired" in body
        assert http(base + "/view/" + tok, method="PUT")[0] == 405
        assert http(base + "/release/" + tok, data=b"csrf=" + b"x" * 5000)[0] == 413
        many = {"X-H%d" % i: "v" for i in range(60)}
        assert http(base + "/view/" + tok, headers=many)[0] == 431
        # eight requests a minute from this address; the style sheet is not counted
        codes = [http(base + "/view/" + tok)[0] for _ in range(6)]
        assert http(base + "/style.css")[0] == 200
        assert codes[-1] == 429 and 429 not in codes[:3], codes
        status, hdrs, body = http(base + "/view/" + tok)
        assert status == 429 and "Too many requests" in body
        assert hdrs["X-Frame-Options"] == "DENY"
    finally:
        assert web.stop() == 0


def test_web_drops_root_and_gives_the_key_to_the_daemon_user(workdir):
    """Started as root, scand-web creates the key for [scand] user, then
    runs as that user (every uid and gid), and still answers from the store."""
    import pwd
    pw = pwd.getpwnam("gatehouse")
    port = ghtest.free_port()
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    os.chown(data, pw.pw_uid, pw.pw_gid)
    keyfile = os.path.join(data, "web.key")
    conf = os.path.join(workdir, "scand.conf")
    with open(conf, "w") as f:
        f.write("[scand]\nuser = gatehouse\ngroup = gatehouse\nallow_root = no\ndatabase = %s/gatehouse.db\n"
                "quarantine_dir = %s/q\n[web]\nlisten = 127.0.0.1:%d\nsecret_file = %s\n"
                % (data, workdir, port, keyfile))
    web = Web(conf, port, os.path.join(workdir, "web.log"))
    try:
        st = os.stat(keyfile)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (pw.pw_uid, pw.pw_gid, 0o600)
        with open("/proc/%d/status" % web.proc.pid) as f:
            status = dict(l.split(":", 1) for l in f if ":" in l)
        assert status["Uid"].split() == [str(pw.pw_uid)] * 4
        assert status["Gid"].split() == [str(pw.pw_gid)] * 4
        tok = make_token(read_key(keyfile), BOB, "AAAAAAAAAAAA", "view", int(time.time()) + 3600)
        status_code, _, body = http("http://127.0.0.1:%d/view/%s" % (port, tok))
        assert status_code == 404 and "no longer held" in body
    finally:
        assert web.stop() == 0
