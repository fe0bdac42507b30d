"""Helpers for the notify tests: run scand-notify, a recording SMTP server.

SmtpSink is a small real SMTP server (threads, 127.0.0.1, a port from the
kernel) that records each accepted message (envelope and bytes). Its reply
to the end of DATA is configurable (250, 451, 550) and can be delayed, so
tests can take the downstream down, make it defer or refuse, and kill a
sender in the middle of a transfer.
"""
import contextlib
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time

ROOT = os.environ.get("GH_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GH_BUILD") or os.path.join(ROOT, "build-asan")
NOTIFY = os.path.join(BUILD, "bin", "scand-notify")
TEMPLATES = os.path.join(ROOT, "templates")


def asan_env(**extra):
    """The environment for our programs: the ASan suppressions of tests/run
    (libesmtp's header lookup trips strict_string_checks) even when pytest
    runs alone."""
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "detect_leaks=1:strict_string_checks=1")
    if "suppressions=" not in opts:
        opts += ":suppressions=" + os.path.join(ROOT, "tests", "asan.supp")
    for k, v in extra.items():
        opts += ":%s=%s" % (k, v)
    env["ASAN_OPTIONS"] = opts
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_conf(tmp, extra_notify="", port=None, hostname="mx.example.org"):
    path = os.path.join(str(tmp), "scand.conf")
    with open(path, "w") as f:
        f.write("[scand]\n")
        f.write("database = %s\n" % os.path.join(str(tmp), "gatehouse.db"))
        f.write("hostname = %s\n" % hostname)
        f.write("log_level = warn\n")
        f.write("[notify]\n")
        if port:
            f.write("forward = 127.0.0.1:%d\n" % port)
        f.write(extra_notify)
    return path


def notify(conf, *args, check=True, timeout=60):
    cmd = [NOTIFY, "-c", conf, "-T", TEMPLATES] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=asan_env())
    if check and p.returncode != 0:
        raise AssertionError("%r failed %d: %s" % (cmd, p.returncode, p.stderr.decode(errors="replace")))
    return p


@contextlib.contextmanager
def senders(confs, logs):
    """`scand-notify -c CONF run` for each configuration, side by side, its
    output (stdout and stderr) into the log path at the same place in logs;
    yields the processes. Leaving the block normally sends each SIGTERM,
    and each must exit 0; whatever is still running at the end is killed."""
    procs = []
    try:
        for conf, log in zip(confs, logs):
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([NOTIFY, "-c", conf, "-T", TEMPLATES, "run"], env=asan_env(),
                                              stdout=out, stderr=subprocess.STDOUT))
        yield procs
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(timeout=30) == 0, "scand-notify run exited %s" % p.returncode
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def simulate(conf, *args):
    """Runs simulate -q; returns (mail_id, [(kind, rcpt)])."""
    out = notify(conf, "simulate", "-q", *args).stdout.decode()
    alerts, mail_id = [], None
    for line in out.splitlines():
        kind, val = line.split(" ", 1)
        if kind == "mail_id":
            mail_id = val
        else:
            alerts.append((kind, val.strip("<>")))
    assert mail_id
    return mail_id, alerts


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        self.reply("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            up = cmd.upper()
            if up.startswith("EHLO") or up.startswith("HELO"):
                self.reply("250-sink\r\n250-PIPELINING\r\n250 8BITMIME")
            elif up.startswith("MAIL FROM:"):
                mail_from, rcpts = cmd[10:].split()[0] if cmd[10:].strip() else "", []
                self.reply("250 2.1.0 ok")
            elif up.startswith("RCPT TO:"):
                rcpts.append(cmd[8:].strip())
                self.reply("250 2.1.5 ok")
            elif up == "DATA":
                self.reply("354 go ahead")
                data = bytearray()
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    data += l
                if sink.delay:
                    time.sleep(sink.delay)
                code = sink.code_for(rcpts)
                if code == 250:
                    sink.record(mail_from, rcpts, bytes(data))
                    self.reply("250 2.0.0 queued")
                else:
                    self.reply("%d %d.7.1 sink says no" % (code, code // 100))
            elif up == "RSET" or up == "NOOP":
                self.reply("250 ok")
            elif up == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 unknown")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    def __init__(self, port=None, code=250, delay=0.0):
        self.port = port or free_port()
        self.code = code
        self.delay = delay
        self.per_rcpt = {}
        self.messages = []
        self.lock = threading.Lock()
        self.server = None

    def code_for(self, rcpts):
        for r in rcpts:
            if r.strip("<>") in self.per_rcpt:
                return self.per_rcpt[r.strip("<>")]
        return self.code

    def record(self, mail_from, rcpts, data):
        with self.lock:
            self.messages.append((mail_from, rcpts, data))

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.sink = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def count(self):
        with self.lock:
            return len(self.messages)


@contextlib.contextmanager
def sink_conf(tmp, extra_notify=""):
    """A started SmtpSink and a config (write_conf) whose alerts go to it,
    as (sink, conf); the sink stops when the block ends."""
    sink = SmtpSink().start()
    try:
        yield sink, write_conf(tmp, extra_notify, port=sink.port)
    finally:
        sink.stop()
