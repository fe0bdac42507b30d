"""ghtest — helpers for Gatehouse end-to-end tests.

Everything here starts real programs on 127.0.0.1 high ports chosen by the
kernel, in a private directory, and stops them afterwards:

  Postfix(dir)      a private Postfix instance (postfix -c DIR) whose smtpd
                    hands mail to scand after the queue (content_filter,
                    SMTP or LMTP), before the queue (smtpd_proxy_filter) or
                    not at all, with a reinjection smtpd (content_filter
                    empty) and delivery of every recipient to a file.
  Spamd(dir)        SpamAssassin's spamd.
  Rspamd(dir)       rspamd with a private configuration (checks + controller).
  Scand(dir, ...)   scand from $GH_BUILD/bin with a generated config.
  Postgres(dir)     a PostgreSQL 15 cluster of its own (initdb, pg_ctl).
  free_port()       a port nobody listens on.

The tests run as root (CI does): Postfix and spamd need it.
"""

import email
import email.policy
import glob
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import tempfile
import time

ROOT = os.environ.get("GH_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("GH_BUILD", os.path.join(ROOT, "build-asan"))
BIN = os.path.join(BUILD, "bin")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on 127.0.0.1:%d after %.0fs" % (port, timeout))


def wait_for(pred, timeout=20.0, step=0.1, what="condition"):
    """Poll pred() until it returns a true value; return that value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(step)


def run(argv, check=True, **kw):
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# The services a private instance needs; chroot off (column 5 'n').
_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance.

    mode: None (no filter), "smtp" or "lmtp" (after-queue content_filter to
    scand on filter_port), or "proxy" (before-queue smtpd_proxy_filter).
    Ports: smtpd_port (where tests submit), reinject_port (where scand
    forwards; mail arriving there is delivered). Every recipient is
    delivered to its own file in self.maildir.
    """

    def __init__(self, base, mode=None, filter_port=None, smtpd_port=None, reinject_port=None, maxproc=4):
        self.dir = os.path.abspath(base)
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maildir = os.path.join(self.dir, "mail")
        self.maillog = os.path.join(self.dir, "maillog")
        self.mode = mode
        self.filter_port = filter_port
        self.smtpd_port = smtpd_port or free_port()
        self.reinject_port = reinject_port or free_port()
        self.maxproc = maxproc
        self.running = False
        self._write_config()

    # -- configuration -------------------------------------------------
    def postconf(self, *args):
        return run(["postconf", "-c", self.conf] + list(args)).stdout

    def _write_config(self):
        for d in (self.conf, self.queue, self.data, self.maildir):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.maildir, 0o1777)
        shutil.chown(self.data, "postfix", "postfix")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(
                "compatibility_level = 3.6\n"
                "queue_directory = %s\n"
                "data_directory = %s\n"
                "mail_owner = postfix\nsetgid_group = postdrop\n"
                "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
                "myhostname = gh-test.localdomain\nmydomain = localdomain\n"
                "mydestination =\nrelay_domains =\n"
                "mynetworks = 127.0.0.0/8\n"
                "smtpd_relay_restrictions = permit_mynetworks, reject\n"
                "default_transport = filedrop\nlocal_transport = filedrop\nrelay_transport = filedrop\n"
                "filedrop_destination_recipient_limit = 1\n"
                "maillog_file = %s\nmaillog_file_prefixes = %s\n"
                "smtp_dns_support_level = disabled\n"
                "smtputf8_enable = yes\n"
                "message_size_limit = 104857600\n"
                "alias_maps =\nalias_database =\n"
                "biff = no\nqueue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximum_backoff_time = 2s\n"
                "delay_warning_time = 0\n"
                "smtpd_authorized_xforward_hosts = 127.0.0.0/8\n"
                "in_flow_delay = 0\n"
                % (self.queue, self.data, self.maillog, self.dir)
            )
        svc = _MASTER_CF
        # Submission smtpd: where tests hand mail in.
        svc += "127.0.0.1:%d inet n - n - - smtpd\n" % self.smtpd_port
        if self.mode in ("smtp", "lmtp"):
            svc += "  -o content_filter=scan:[127.0.0.1]:%d\n" % self.filter_port
        elif self.mode == "proxy":
            svc += "  -o smtpd_proxy_filter=127.0.0.1:%d\n  -o smtpd_proxy_options=speed_adjust\n" % self.filter_port
        if self.mode in ("smtp", "lmtp"):
            svc += (
                "scan unix - - n - %d %s\n"
                "  -o %s_send_xforward_command=yes\n"
                "  -o disable_mime_output_conversion=yes\n"
                "  -o %s_data_done_timeout=1200s\n" % (self.maxproc, self.mode, self.mode, self.mode)
            )
        # Reinjection smtpd: what scand forwards to; no filter here.
        svc += (
            "127.0.0.1:%d inet n - n - - smtpd\n"
            "  -o content_filter=\n"
            "  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n"
            "  -o smtpd_helo_restrictions=\n  -o smtpd_client_restrictions=\n"
            "  -o smtpd_sender_restrictions=\n"
            "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
            "  -o mynetworks=127.0.0.0/8\n"
            "  -o smtpd_authorized_xforward_hosts=127.0.0.0/8\n" % self.reinject_port
        )
        svc += (
            "filedrop unix - n n - - pipe\n"
            "  user=nobody argv=%s %s/${queue_id}.${recipient}.eml\n" % (self._filedrop(), self.maildir)
        )
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(svc)

    def _filedrop(self):
        """The delivery command: the message on stdin to the file named by
        its argument, whole or not at all (a test never reads half a
        message): written beside it, then renamed. dd, not tee: tee also
        copies the message to its stdout, which pipe(8) stops reading, so
        large messages bounced now and then."""
        path = os.path.join(self.dir, "filedrop")
        with open(path, "w") as f:
            f.write('#!/bin/sh\ndd status=none of="$1.part" && exec mv "$1.part" "$1"\n')
        os.chmod(path, 0o755)
        return path

    # -- life cycle ----------------------------------------------------
    def start(self):
        r = run(["postfix", "-c", self.conf, "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: " + r.stdout + self.log())
        self.running = True
        wait_port(self.smtpd_port)
        wait_port(self.reinject_port)
        return self

    def stop(self):
        if self.running:
            run(["postfix", "-c", self.conf, "stop"], check=False)
            # master exits after its children; wait so ports and files are free
            pidf = os.path.join(self.queue, "pid", "master.pid")
            wait_for(lambda: not _pid_alive(_read_pid(pidf)), timeout=10, what="postfix master to exit")
            self.running = False

    def reload(self):
        run(["postfix", "-c", self.conf, "reload"])

    def reinject_down(self):
        """Stop accepting on the reinjection port (the downstream is down)."""
        self.postconf("-M#", "127.0.0.1:%d/inet" % self.reinject_port)
        self.reload()
        wait_for(lambda: not _port_open(self.reinject_port), timeout=10, what="reinjection port to close")

    def reinject_up(self):
        self._write_config()
        self.reload()
        wait_port(self.reinject_port)

    def flush(self):
        run(["postqueue", "-c", self.conf, "-f"], check=False)

    def queue_ids(self):
        """Queue ids of messages still in Postfix's queue."""
        r = run(["postqueue", "-c", self.conf, "-j"], check=False)
        return [json.loads(line)["queue_id"] for line in r.stdout.splitlines() if line.startswith("{")]

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- mail ----------------------------------------------------------
    def send(self, sender, rcpts, msg, port=None):
        """Submit msg (bytes or str) to the submission smtpd. Returns smtplib's refused dict."""
        if isinstance(msg, str):
            msg = msg.encode()
        with smtplib.SMTP("127.0.0.1", port or self.smtpd_port, timeout=60) as s:
            return s.sendmail(sender, rcpts, msg)

    def delivered(self, alerts=False):
        """Paths of delivered files, oldest first: the mail, or with
        alerts=True only scand's alerts (Auto-Submitted: auto-generated,
        sent by the notify module through the same reinjection smtpd).
        A file whose header block is not complete yet is left out."""
        out = []
        for p in sorted(glob.glob(os.path.join(self.maildir, "*.eml")), key=os.path.getmtime):
            kind = _delivered_kind(p)
            if kind is not None and kind == alerts:
                out.append(p)
        return out

    def wait_delivered(self, n, timeout=30, alerts=False):
        return wait_for(lambda: (lambda d: d if len(d) >= n else None)(self.delivered(alerts)), timeout=timeout,
                        what="%d delivered messages (log:\n%s)" % (n, self.log()[-3000:]))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _delivered_kind(path):
    """True for an alert, False for other mail, None while the header block
    is still being written."""
    with open(path, "rb") as f:
        head = f.read(65536)
    end = head.find(b"\n\n")
    if end < 0:
        return None
    return re.search(rb"(?im)^auto-submitted:[ \t]*auto-generated", head[:end]) is not None


def db_rows(db, sql, *params):
    """The rows of one query on the store at db (waiting up to 30 s for a
    writer), the connection closed."""
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def refuse_once(addr, answer):
    """A Sink.rcpt_reply: the first RCPT TO addr gets answer, every other
    recipient (and addr again) is accepted."""
    refused = []

    def reply(rcpt):
        if rcpt == addr and not refused:
            refused.append(rcpt)
            return answer
        return None

    return reply


def parse_mail(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def body_of(raw):
    """The body (after the first empty line) of a raw message (bytes)."""
    sep = raw.find(b"\r\n\r\n")
    if sep >= 0 and (raw.find(b"\n\n") < 0 or sep < raw.find(b"\n\n")):
        return raw[sep + 4:]
    return raw[raw.find(b"\n\n") + 2:]


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


PG_BIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A PostgreSQL 15 cluster of its own in dir/data, on 127.0.0.1:port
    (its Unix socket in dir too, never the system one), run as the
    'postgres' user (the tests run as root, which PostgreSQL refuses).
    Trust authentication on loopback for the superuser 'gatehouse';
    fsync off (a test cluster: durability is not what it checks), unless
    durable=True (the benchmarks): fsync and synchronous_commit on, a
    commit returns once its WAL is on disk.
    url(db) is what [scand] database takes; createdb() makes a fresh
    database; psql(sql, db) runs SQL and returns its rows as lists of
    strings."""

    def __init__(self, base, port=None, user="gatehouse", durable=False):
        self.dir = os.path.abspath(base)
        self.data = os.path.join(self.dir, "data")
        self.port = port or free_port()
        self.user = user
        self.durable = durable
        self.logfile = os.path.join(self.dir, "postgres.log")

    def _as_postgres(self, argv, **kw):
        return run(["runuser", "-u", "postgres", "--"] + argv, **kw)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._as_postgres([PG_BIN + "/initdb", "-D", self.data, "-U", self.user, "-A", "trust",
                               "-E", "UTF8", "--locale", "C"] + ([] if self.durable else ["--no-sync"]))
        sync = "on" if self.durable else "off"
        opts = "-h 127.0.0.1 -p %d -k %s -c fsync=%s -c synchronous_commit=%s -c max_connections=100" % (
            self.port, self.dir, sync, sync)
        self._as_postgres([PG_BIN + "/pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts, "-w", "-t", "60",
                           "start"])
        wait_port(self.port, timeout=30)
        return self

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_postgres([PG_BIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"],
                              check=False)

    def url(self, db="postgres"):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, db)

    def psql(self, sql, db="postgres"):
        r = subprocess.run([PG_BIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\x1f",
                            "-d", self.url(db), "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr.strip())
        return [line.split("\x1f") for line in r.stdout.splitlines()]

    def createdb(self, name):
        self.psql('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def dropdb(self, name):
        self.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Spamd:
    """SpamAssassin's spamd on a free port (offline rules from the package)."""

    def __init__(self, base, port=None, max_children=2, extra_args=(), allow_tell=False):
        self.dir = os.path.abspath(base)
        self.port = port or free_port()
        self.max_children = max_children
        self.extra_args = list(extra_args)  # e.g. ["--min-children", "8"] for benchmarks
        self.home = os.path.join(self.dir, "spamd-home")
        self.pidfile = os.path.join(self.dir, "spamd.pid")
        self.logfile = os.path.join(self.dir, "spamd.log")
        self.allow_tell = allow_tell
        self.bayes = os.path.join(self.home, "bayes")  # with allow_tell: the prefix of its Bayes files

    def start(self):
        os.makedirs(self.home, exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.home, "debian-spamd", "debian-spamd")
        if self.allow_tell:
            # learning (TELL) goes into this spamd's own Bayes database under
            # home, not the system one: the site config is copied with a
            # bayes_path added
            site = os.path.join(self.dir, "siteconfig")
            shutil.copytree("/etc/spamassassin", site, dirs_exist_ok=True)
            with open(os.path.join(site, "zz-gh-bayes.cf"), "w") as f:
                f.write("use_bayes 1\nbayes_path %s\nbayes_file_mode 0770\n" % self.bayes)
            self.extra_args += ["--allow-tell", "--siteconfigpath", site]
        run(["spamd", "-L", "-x", "--listen", "127.0.0.1:%d" % self.port, "-d", "-r", self.pidfile,
             "-s", self.logfile, "-u", "debian-spamd", "-H", self.home, "--max-children", str(self.max_children)] + self.extra_args)
        wait_for(self.ping, timeout=60, step=0.2, what="spamd PONG")
        return self

    def bayes_counts(self):
        """(nspam, nham) learned into this spamd's Bayes database (sa-learn --dump magic)."""
        r = subprocess.run(["sa-learn", "--dbpath", os.path.dirname(self.bayes), "--dump", "magic"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        counts = {}
        for line in r.stdout.decode(errors="replace").splitlines():
            f = line.split()
            if len(f) >= 4 and f[-1] in ("nspam", "nham"):
                counts[f[-1]] = int(f[2])
        return counts.get("nspam", 0), counts.get("nham", 0)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"PING SPAMC/1.5\r\n\r\n")
                return b"PONG" in s.recv(100)
        except OSError:
            return False

    def stop(self):
        pid = _read_pid(self.pidfile)
        if pid and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not _pid_alive(pid), timeout=10, what="spamd to exit")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# rspamd's private configuration: the packaged /etc/rspamd/rspamd.conf with
# LOCAL_CONFDIR pointing here, so these files override the package's. Network
# checks are off (no DNS lists, no fuzzy storage, no SPF/DKIM/DMARC lookups;
# the resolver is a closed port), Bayes is on sqlite3 with min_learns 1 (no
# Redis), the controller asks a password of everyone (no secure_ip).
_RSPAMD_OFF = ("rbl", "surbl", "fuzzy_check", "asn", "spf", "dkim", "dmarc", "arc", "dcc", "emails",
               "phishing", "mx_check", "rspamd_update", "url_redirector", "replies", "neural", "ratelimit",
               "greylist", "history_redis", "reputation", "clickhouse", "elastic", "metric_exporter")
_RSPAMD_FILES = {
    "override.d/worker-normal.inc": 'bind_socket = "127.0.0.1:{port}";\ncount = {workers};\n',
    "override.d/worker-controller.inc": ('bind_socket = "127.0.0.1:{controller_port}";\ncount = 1;\n'
                                         'password = "{password}";\nenable_password = "{password}";\n'
                                         'secure_ip = "192.0.2.255";\n'),
    "override.d/worker-proxy.inc": "enabled = false;\n",
    "override.d/worker-fuzzy.inc": "enabled = false;\n",
    "override.d/classifier-bayes.conf": (
        'backend = "sqlite3";\nmin_learns = 1;\nmin_tokens = 1;\nmin_token_hits = 1;\n'
        'learn_condition = "return function() return true end";\n'
        'cache {{ type = "sqlite3"; file = "${{DBDIR}}/learn_cache.sqlite"; }}\n'
        'statfile {{ symbol = "BAYES_HAM"; spam = false; path = "${{DBDIR}}/bayes.ham.sqlite"; }}\n'
        'statfile {{ symbol = "BAYES_SPAM"; spam = true; path = "${{DBDIR}}/bayes.spam.sqlite"; }}\n'),
    "local.d/options.inc": ('dns {{ nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }}\n'
                            'hs_cache_dir = "{hs_cache}";\ndisable_hyperscan = {no_hs};\n'),
    "local.d/logging.inc": 'level = "notice";\n',
    # hfilter's checks that resolve names (HELO, client hostname, From
    # domain, URL hosts) would each wait for the closed resolver
    "local.d/hfilter.conf": "helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\nurl_enabled = false;\n",
    "local.d/actions.conf": "{actions}",
    "local.d/milter_headers.conf": 'use = ["x-spamd-result"];\nskip_local = false;\nskip_authenticated = false;\n',
}


class Rspamd:
    """rspamd (the Debian package) with a private configuration in base, on
    two free loopback ports: port (normal worker, checks) and
    controller_port (learning, with password). It runs as _rspamd, as the
    package's own service does: rspamd will not run its workers as root.

    rspamd compiles its regexps and the TLD list with hyperscan before it
    answers: half a minute of CPU the first time, then a second or two with
    the compiled databases in hs_cache, by default one directory under the
    system's temporary directory shared by every run on this machine (it
    holds nothing but that cache). hyperscan=False matches the regexps
    with PCRE (slower scans; the TLD list is still compiled). actions: rspamd action thresholds to set, e.g.
    {"greylist": 1}. stop() ends it; kill() kills every process of it at once
    (SIGKILL to its process group), as a crash would."""

    def __init__(self, base, port=None, controller_port=None, password="gh-secret", workers=1, hyperscan=True,
                 hs_cache=None, actions=None):
        self.dir = os.path.abspath(base)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.password = password
        self.workers = workers
        self.hyperscan = hyperscan
        self.hs_cache = os.path.abspath(hs_cache or os.path.join(tempfile.gettempdir(), "gh-rspamd-hs-cache"))
        self.actions = actions or {}
        self.db = os.path.join(self.dir, "db")
        self.logfile = os.path.join(self.dir, "rspamd.log")
        self.proc = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def controller(self):
        return "127.0.0.1:%d" % self.controller_port

    def spam_section(self, **extra):
        """The [spam] keys that point scand at this rspamd."""
        sec = {"enabled": "yes", "backend": "rspamd", "rspamd": self.addr, "rspamd_controller": self.controller,
               "rspamd_password": self.password, "timeout": "10s"}
        sec.update(extra)
        return sec

    def _write_config(self):
        values = {"port": self.port, "controller_port": self.controller_port, "password": self.password,
                  "workers": self.workers, "hs_cache": self.hs_cache,
                  "no_hs": "false" if self.hyperscan else "true",
                  "actions": "".join("%s = %s;\n" % kv for kv in self.actions.items())}
        for name, text in _RSPAMD_FILES.items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text.format(**values))
        for mod in _RSPAMD_OFF:
            with open(os.path.join(self.dir, "local.d", mod + ".conf"), "w") as f:
                f.write("enabled = false;\n")
        for d in (self.db, self.hs_cache):
            os.makedirs(d, exist_ok=True)
        for top, dirs, files in os.walk(self.dir):
            for n in dirs + files + ["."]:
                shutil.chown(os.path.join(top, n), "_rspamd", "_rspamd")
        shutil.chown(self.hs_cache, "_rspamd", "_rspamd")
        os.chmod(self.dir, 0o755)

    def start(self, timeout=120):
        self._write_config()
        argv = ["rspamd", "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd",
                "--var", "LOCAL_CONFDIR=" + self.dir, "--var", "DBDIR=" + self.db, "--var", "RUNDIR=" + self.dir,
                "--var", "LOGDIR=" + self.dir, "-p", os.path.join(self.dir, "rspamd.pid")]
        self.out = open(os.path.join(self.dir, "rspamd.out"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.proc.poll() is not None or (self.ping(self.port) and self.ping(self.controller_port)),
                 timeout=timeout, step=0.2, what="rspamd to answer /ping")
        if self.proc.poll() is not None:
            raise RuntimeError("rspamd exited with %s: %s" % (self.proc.returncode, self.log_tail()))
        return self

    def log_tail(self, n=20):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    @staticmethod
    def ping(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                return b"pong" in s.recv(200)
        except OSError:
            return False

    def check(self, raw, headers=None):
        """POST /checkv2 directly: the parsed JSON reply."""
        return self._post(self.port, "/checkv2", raw, headers or {})

    def _post(self, port, path, raw, headers):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", path, body=raw, headers=headers)
        r = c.getresponse()
        body = json.loads(r.read() or b"{}")
        c.close()
        return r.status, body

    def kill(self):
        """Every process of this rspamd killed at once (SIGKILL)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc:
            try:  # workers left behind by a main process that died first
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.out.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Scand:
    """scand in the foreground with a generated config.

    sections: {"section": {"key": "value"}} merged over the test defaults
    (everything under base, allow_root = yes, clamav on the project's own
    signatures, spamd off unless given).
    """

    def __init__(self, base, forward_port, port=None, sections=None, binary=None):
        self.dir = os.path.abspath(base)
        self.port = port or free_port()
        self.forward_port = forward_port
        self.binary = binary or os.path.join(BIN, "scand")
        self.conf_path = os.path.join(self.dir, "scand.conf")
        self.db = os.path.join(self.dir, "gatehouse.db")
        self.quarantine = os.path.join(self.dir, "quarantine")
        self.work = os.path.join(self.dir, "work")
        self.logfile = os.path.join(self.dir, "scand.log")
        self.proc = None
        conf = {
            "scand": {
                "listen": "127.0.0.1:%d" % self.port,
                "forward": "127.0.0.1:%d" % forward_port,
                "database": self.db,
                "quarantine_dir": self.quarantine,
                "work_dir": self.work,
                "pid_file": os.path.join(self.dir, "scand.pid"),
                "allow_root": "yes",
                "max_servers": "4",
                "log_level": "info",
            },
            "clamav": {"database_dirs": os.path.join(ROOT, "signatures")},
            "spam": {"enabled": "no"},
            "notify": {"forward": "127.0.0.1:%d" % forward_port,
                       "shipped_dir": os.path.join(ROOT, "templates")},
        }
        for sec, kv in (sections or {}).items():
            conf.setdefault(sec, {}).update(kv)
        self.conf = conf
        self.write_config()

    def write_config(self):
        os.makedirs(self.work, exist_ok=True)
        os.makedirs(self.quarantine, exist_ok=True)
        with open(self.conf_path, "w") as f:
            for sec, kv in self.conf.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    def start(self, wait=True):
        self._log = open(self.logfile, "ab")
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen([self.binary, "-f", "-c", self.conf_path], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if wait:
            wait_port(self.port, timeout=60, proc=self.proc)
            # the listener is bound before the store is opened and the
            # engine loaded: a test that reads the database at once could
            # create an empty file (sqlite3.connect) and see "no such table"
            wait_for(self.ready, timeout=120, what="scand ready (store open)")
        return self

    def ready(self):
        """scand logged "ready:" since this start, or (at log_level warn) its
        store has the schema; or it exited (the test sees its status)."""
        if self.proc.poll() is not None:
            return True
        try:
            with open(self.logfile, "rb") as f:
                f.seek(getattr(self, "_log_start", 0))
                if b"ready:" in f.read():
                    return True
        except OSError:
            pass
        if not os.path.exists(self.db):
            return False
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            try:
                return con.execute("SELECT 1 FROM sqlite_master WHERE name = 'msgs'").fetchone() is not None
            finally:
                con.close()
        except sqlite3.Error:
            return False

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def make_message(subject="test", body="hello\r\n", sender="alice@example.org", to="bob@example.com",
                 extra_headers=(), message_id=None):
    """A simple RFC 5322 message, CRLF line ends (bytes)."""
    mid = message_id or "<%s.%d@gh-test>" % (time.strftime("%Y%m%d%H%M%S"), int(time.monotonic_ns() % 10**9))
    hdrs = [
        "From: %s" % sender,
        "To: %s" % to,
        "Subject: %s" % subject,
        "Date: %s" % email.utils.formatdate(localtime=False),
        "Message-ID: %s" % mid,
    ] + list(extra_headers)
    text = "\r\n".join(hdrs) + "\r\n\r\n" + body
    return text.encode("utf-8")


import email.utils  # noqa: E402  (used by make_message)


def _main(argv):
    """`ghtest.py rspamd DIR [PORT CONTROLLER_PORT]`: start an Rspamd in
    DIR (on free ports unless given), print "PORT CONTROLLER_PORT PASSWORD"
    on one line, keep it running until stdin closes (Ctrl-D), then stop it.
    For tests written in C (tests/unit/test_rspamd.c) and for trying
    `make run` with [spam] backend = rspamd (README)."""
    import sys
    if len(argv) not in (3, 5) or argv[1] != "rspamd":
        sys.stderr.write("usage: ghtest.py rspamd DIR [PORT CONTROLLER_PORT]\n")
        return 2
    os.makedirs(argv[2], exist_ok=True)
    ports = [int(p) for p in argv[3:5]] or [None, None]
    r = Rspamd(argv[2], port=ports[0], controller_port=ports[1]).start()
    try:
        sys.stdout.write("%d %d %s\n" % (r.port, r.controller_port, r.password))
        sys.stdout.flush()
        sys.stdin.read()
    finally:
        r.stop()
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv))
