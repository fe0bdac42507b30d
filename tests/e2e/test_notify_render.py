"""Alert rendering with hostile values.

The store is filled through the real code path: `scand-notify simulate -q`
runs notify_alerts() and store_put() on a real SQLite file, and
`scand-notify render KIND MAIL_ID` renders from that row. Every output must
parse with Python's email package as one message with exactly the expected
header fields: a CR or LF in the subject, sender, file name or virus name
must never add a header.
"""
import email.parser
import email.policy
import os
import re

import pytest

from notify_util import notify, simulate, write_conf

KINDS = ["virus-sender", "virus-recipient", "virus-admin", "banned-sender", "banned-recipient",
         "banned-admin", "spam-admin", "release"]
EVIL_SUBJECT = "Rechnung ünïcödé 日本語の件名\r\nBcc: victim@evil.example\r\nX-Injected: subject " + "A" * 10000
EVIL_SENDER = "evil@example.net\r\nX-Injected: sender"
EVIL_FILE = "invoice.pdf\r\nX-Injected: file.exe"
EVIL_VIRUS = "Eicar-Test-Signature\nX-Injected: virus"
CLEAN_SENDER = "alice@example.net"
RCPT = "bob@example.org"
BASE_FIELDS = {"from", "to", "subject", "date", "message-id", "mime-version", "auto-submitted", "content-type"}


@pytest.fixture
def conf(tmp_path):
    return write_conf(tmp_path)


def stored(conf, category, sender, **kw):
    args = ["-C", category, "-s", sender, "-r", RCPT, "-S", EVIL_SUBJECT]
    if category == "virus":
        args += ["-v", EVIL_VIRUS]
    if category == "banned":
        args += ["-b", EVIL_FILE, "-b", "second.scr"]
    if category == "spam":
        args += ["-x", "12.5", "-X", "GTUBE,NO_RELAYS\r\nX-Injected: tests"]
    mail_id, _ = simulate(conf, *args)
    return mail_id


def category_of(kind):
    return {"virus": "virus", "banne": "banned", "spam-": "spam", "relea": "virus"}[kind[:5]]


def check_alert(raw, to):
    """Parses one alert and checks its shape; returns the message."""
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Injected" not in head and b"\r\nBcc" not in head
    m = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    names = [k.lower() for k in m.keys()]
    assert len(names) == len(set(names)), names
    extra = set(names) - BASE_FIELDS - {"content-transfer-encoding"}
    assert not extra, extra
    assert BASE_FIELDS <= set(names)
    assert not m.defects, m.defects
    for part in m.walk():
        assert not part.defects, part.defects
    assert str(m["auto-submitted"]) == "auto-generated"
    assert str(m["mime-version"]) == "1.0"
    assert [a.addr_spec for a in m["to"].addresses] == [to]
    assert [a.addr_spec for a in m["from"].addresses] == ["postmaster@mx.example.org"]
    subject = str(m["subject"])
    assert "\r" not in subject and "\n" not in subject
    assert len(subject) < 400
    body = m.get_body(("plain",))
    assert body.get_content_charset() == "utf-8"
    text = body.get_content().replace("\r\n", "\n")  # the wire form is CRLF
    assert "\r" not in text, "bare CR in the body"
    return m, subject, text


@pytest.mark.parametrize("kind", KINDS)
def test_render_hostile_values(conf, kind):
    sender = CLEAN_SENDER if kind.endswith("-sender") else EVIL_SENDER
    mail_id = stored(conf, category_of(kind), sender)
    to = {"sender": CLEAN_SENDER, "admin": "postmaster@mx.example.org"}.get(kind.split("-")[-1], RCPT)
    raw = notify(conf, "render", kind, mail_id).stdout
    m, subject, text = check_alert(raw, to)
    assert mail_id in text
    if kind.startswith("virus") or kind.endswith("-sender"):
        assert "日本語" in subject or "Eicar" in subject or "VIRUS" in subject
    if kind.startswith("virus"):
        assert "Eicar-Test-Signature X-Injected: virus" in text
    if kind.startswith("banned"):
        assert "invoice.pdf  X-Injected: file.exe" in text and "second.scr" in text
    if kind == "spam-admin":
        assert "12.5" in subject and "GTUBE, NO_RELAYS  X-Injected: tests" in text
    if kind not in ("spam-admin",):
        assert "日本語の件名" in text


def test_render_sender_kind_refuses_hostile_address(conf):
    mail_id = stored(conf, "virus", EVIL_SENDER)
    p = notify(conf, "render", "virus-sender", mail_id, check=False)
    assert p.returncode == 1
    assert p.stdout == b""
    assert b"not a plain address" in p.stderr
    p = notify(conf, "render", "-t", "a@b.example\r\nBcc: c@d", "virus-admin", mail_id, check=False)
    assert p.returncode == 1 and p.stdout == b""


def test_long_subject_is_cut_and_folded(conf):
    mail_id = stored(conf, "virus", CLEAN_SENDER)
    raw = notify(conf, "render", "virus-sender", mail_id).stdout
    m, subject, _ = check_alert(raw, CLEAN_SENDER)
    assert subject.endswith("...")
    assert "Bcc: victim@evil.example" in subject  # kept as text, on one logical line
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78  # folded, not one long line


def test_admin_alert_attaches_original_headers(conf, tmp_path):
    orig = tmp_path / "orig.eml"
    orig.write_bytes(b"From: Mallory <m@example.net>\r\nSubject: =?utf-8?b?5pel5pys?=\r\n"
                     b"X-Odd: \xe6\x97\xa5\xff 8-bit\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    notify(conf, "simulate", "-o", str(outdir), "-C", "virus", "-s", CLEAN_SENDER, "-r", RCPT,
           "-v", "Eicar-Test-Signature", "-S", "hello", "-m", str(orig))
    files = sorted(os.listdir(outdir))
    assert [f.split("-", 1)[1] for f in files] == ["virus-admin.eml", "virus-recipient.eml"]
    raw = (outdir / files[0]).read_bytes()
    m, _, text = check_alert(raw, "postmaster@mx.example.org")
    assert m.get_content_type() == "multipart/mixed"
    parts = [p.get_content_type() for p in m.walk()]
    assert parts == ["multipart/mixed", "text/plain", "text/rfc822-headers"]
    hdrs = list(m.walk())[2].get_payload(decode=True)
    assert b"From: Mallory <m@example.net>" in hdrs and b"Message-ID: <x@y>" in hdrs
    assert b"body" not in hdrs
    # the recipient alert carries no copy of the headers
    m2, _, _ = check_alert((outdir / files[1]).read_bytes(), RCPT)
    assert m2.get_content_type() == "text/plain"


def test_japanese_templates(tmp_path):
    conf = write_conf(tmp_path, "language = ja\n")
    mail_id = stored(conf, "virus", EVIL_SENDER)
    m, subject, text = check_alert(notify(conf, "render", "virus-admin", mail_id).stdout,
                                   "postmaster@mx.example.org")
    assert subject.startswith("[mx.example.org] ウイルス検出")
    assert "ウイルスを含むメールが見つかりました" in text and "日本語の件名" in text
    raw = notify(conf, "render", "virus-recipient", mail_id).stdout
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" in head  # RFC 2047 in the header
    words = re.findall(rb"=\?[^?]+\?[BQbq]\?[^?]*\?=", head)
    assert len(words) > 2 and max(len(w) for w in words) <= 75  # RFC 2047 section 2
    assert max(len(line) for line in head.split(b"\r\n")) <= 78  # RFC 5322 2.1.1
    m, subject, text = check_alert(raw, RCPT)
    assert subject.startswith("あなた宛てのメール")
    # no Japanese banned-admin template is shipped: English is used
    banned = stored(conf, "banned", EVIL_SENDER)
    m, subject, _ = check_alert(notify(conf, "render", "banned-admin", banned).stdout,
                                "postmaster@mx.example.org")
    assert "BANNED" in subject


def test_check_reports_template_error_with_file_and_line(tmp_path):
    tdir = tmp_path / "tpl"
    tdir.mkdir()
    (tdir / "virus-recipient").write_text("Subject: hi {{sender}}\n\nline two\n{{#if virus_names}}\n"
                                          "{{virus_name}}\n{{/if}}\n")
    conf = write_conf(tmp_path, "template_dir = %s\n" % tdir)
    p = notify(conf, "check", check=False)
    assert p.returncode == 1
    assert ("%s:5: unknown placeholder {{virus_name}}" % (tdir / "virus-recipient")).encode() in p.stderr
    # a program that loads templates refuses to do anything else
    p = notify(conf, "simulate", "-C", "virus", "-s", CLEAN_SENDER, "-r", RCPT, check=False)
    assert p.returncode == 1 and b"virus-recipient:5:" in p.stderr
    # unclosed block: the line of the opening tag
    (tdir / "virus-recipient").write_text("Subject: hi\n\n{{#each recipients}}\n{{this}}\n")
    p = notify(conf, "check", check=False)
    assert p.returncode == 1 and b"virus-recipient:3: {{#each recipients}} is not closed" in p.stderr
    # fixed: check passes and names the override file
    (tdir / "virus-recipient").write_text("Subject: hi\n\n{{#each recipients}}{{this}}{{/each}}\n")
    p = notify(conf, "check")
    assert ("virus-recipient: %s ok" % (tdir / "virus-recipient")).encode() in p.stdout


def test_shipped_templates_load(conf):
    out = notify(conf, "check").stdout.decode()
    for k in KINDS:
        assert "%s: " % k in out


def test_shipped_dir_from_config(tmp_path):
    """Without -T the shipped templates come from [notify] shipped_dir; a
    kind found nowhere is an error naming it."""
    import subprocess
    from notify_util import NOTIFY, asan_env
    empty = tmp_path / "empty"
    empty.mkdir()
    conf = write_conf(tmp_path, "shipped_dir = %s\n" % empty)
    p = subprocess.run([NOTIFY, "-c", conf, "check"], capture_output=True, env=asan_env())
    assert p.returncode == 1
    assert ("%s/virus-admin: no such template" % empty).encode() in p.stderr
    from notify_util import TEMPLATES
    ok = write_conf(tmp_path, "shipped_dir = %s\n" % TEMPLATES)
    p = subprocess.run([NOTIFY, "-c", ok, "check"], capture_output=True, env=asan_env())
    assert p.returncode == 0, p.stderr


def test_configured_from(tmp_path):
    conf = write_conf(tmp_path, 'from = "Mail Gate (alerts)" <alerts@example.org>\n')
    mail_id = stored(conf, "virus", EVIL_SENDER)
    raw = notify(conf, "render", "virus-admin", mail_id).stdout
    m = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    (a,) = m["from"].addresses
    assert (a.display_name, a.addr_spec) == ("Mail Gate (alerts)", "alerts@example.org")
    bad = write_conf(tmp_path, "from = nobody here\n")
    p = notify(bad, "check", check=False)
    assert p.returncode == 1 and b"[notify] from: not an address: nobody here" in p.stderr


def test_latin1_only_text_is_sent_as_the_utf8_it_says(conf):
    """A body whose only non-ASCII characters fit Latin-1 is still encoded
    as UTF-8, the charset the part declares (GMime would pick ISO-8859-1
    for such text, and the label would then lie: "j=FCrgen" under
    charset=UTF-8)."""
    mail_id, _ = simulate(conf, "-C", "virus", "-s", CLEAN_SENDER, "-r", RCPT, "-S", "Grüße aus Köln",
                          "-v", "Eicar-Test-Signature")
    raw = notify(conf, "render", "virus-admin", mail_id).stdout
    m, subject, text = check_alert(raw, "postmaster@mx.example.org")
    assert "Grüße aus Köln" in text, [ln for ln in text.splitlines() if ln.startswith("Subject")]
    assert "Grüße aus Köln".encode() in m.get_body(("plain",)).get_payload(decode=True)
