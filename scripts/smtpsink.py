"""smtpsink — a small recording SMTP/LMTP server (Python standard library only).

Used by `make run` (scripts/run: a stand-in for the downstream MTA when
nothing listens on [scand] forward) and by scand's protocol tests
(tests/e2e, which import it from here).

Sink(lmtp=False, caps=..., port=0, store_dir=None) listens on 127.0.0.1:port
(0: a free port, then .port) in a thread and records each transaction: the
EHLO name, XFORWARD attributes, MAIL and RCPT command lines and the raw
message bytes after dot-unstuffing (exactly as received). With store_dir,
each accepted message is also written there as NNNNNN.eml (a temporary
name renamed into place), with the envelope in X-Sink-Mail-From and
X-Sink-Rcpt-To lines on top. Replies can be scripted: rcpt_reply(addr) ->
reply line or None (250), data_reply(addr) for LMTP per-recipient replies,
down=True refuses connections with 421. close() stops it.
"""

import os
import socket
import threading


def read_command(f):
    """The next command from the binary file f: (line without CRLF, verb in
    upper case), or None at the end."""
    line = f.readline()
    if not line:
        return None
    cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
    return cmd, cmd.split(" ", 1)[0].upper()


def listen(port=0):
    """A TCP socket listening on 127.0.0.1:port (0: a free port, see its
    getsockname())."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


class Server:
    """Listens on 127.0.0.1:port (0: a free one; see .port) and hands each
    connection to self.connection(sock) in a thread of its own, until
    close(). A subclass sets its own attributes before calling
    Server.__init__, which starts accepting."""

    def __init__(self, port=0):
        self.sock = listen(port)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.connection, args=(c,), daemon=True).start()

    def connection(self, c):
        raise NotImplementedError


class Txn:
    def __init__(self):
        self.helo = None
        self.xforward = {}
        self.mail = None
        self.rcpts = []      # RCPT command lines accepted
        self.rcpt_lines = []  # every RCPT command line
        self.data = None


class Sink(Server):
    CAPS = ["PIPELINING", "SIZE 100000000", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN",
            "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]

    def __init__(self, lmtp=False, caps=None, port=0, store_dir=None):
        self.lmtp = lmtp
        self.store_dir = store_dir
        self.caps = self.CAPS if caps is None else caps
        self.txns = []
        self.rcpt_reply = lambda addr: None
        self.data_reply = lambda addr: None
        self.mail_reply = None
        self.down = False
        self.data_delay = 0.0  # seconds before the reply to the end of data
        self.connections = 0  # accepted connections
        self.lock = threading.Lock()
        Server.__init__(self, port)

    def messages(self):
        with self.lock:
            return [t for t in self.txns if t.data is not None]

    def connection(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.connections += 1
        f = c.makefile("rb")

        def out(s):
            c.sendall(s.encode() + b"\r\n")

        try:
            if self.down:
                out("421 4.3.2 down")
                return
            out("220 sink ESMTP")
            t = Txn()
            helo = None
            while True:
                got = read_command(f)
                if not got:
                    return
                cmd, verb = got
                if verb in ("EHLO", "LHLO"):
                    helo = cmd[5:]
                    lines = ["sink"] + self.caps
                    for i, l in enumerate(lines):
                        out("250%s%s" % ("-" if i < len(lines) - 1 else " ", l))
                elif verb == "XFORWARD":
                    for kv in cmd.split(" ")[1:]:
                        k, v = kv.split("=", 1)
                        t.xforward[k] = v
                    out("250 2.0.0 Ok")
                elif verb == "MAIL":
                    t.helo = helo
                    t.mail = cmd
                    out(self.mail_reply or "250 2.1.0 Ok")
                elif verb == "RCPT":
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    t.rcpt_lines.append(cmd)
                    r = self.rcpt_reply(addr)
                    if r is None:
                        t.rcpts.append(addr)
                        r = "250 2.1.5 Ok"
                    out(r)
                elif verb == "DATA":
                    if not t.rcpts:
                        out("554 5.5.1 no valid recipients")
                        continue
                    out("354 go")
                    buf = bytearray()
                    while True:
                        l = f.readline()
                        if not l:
                            return
                        if l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]
                        buf += l
                    t.data = bytes(buf)
                    if self.data_delay:
                        import time
                        time.sleep(self.data_delay)
                    with self.lock:
                        self.txns.append(t)
                        n = len(self.txns)
                    if self.store_dir:
                        self._store(n, t)
                    if self.lmtp:
                        for a in t.rcpts:
                            out(self.data_reply(a) or "250 2.0.0 Ok: delivered to %s" % a)
                    else:
                        out("250 2.0.0 Ok: queued as SINK%d" % n)
                    t = Txn()
                elif verb == "RSET":
                    t = Txn()
                    out("250 2.0.0 Ok")
                elif verb == "QUIT":
                    out("221 2.0.0 Bye")
                    return
                else:
                    out("250 2.0.0 Ok")
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


    def _store(self, n, t):
        name = os.path.join(self.store_dir, "%06d.eml" % n)
        sender = t.mail[t.mail.find("<") + 1:t.mail.find(">")] if "<" in t.mail else t.mail
        head = "X-Sink-Mail-From: <%s>\r\nX-Sink-Rcpt-To: %s\r\n" % (sender, ", ".join(t.rcpts))
        with open(name + ".tmp", "wb") as f:
            f.write(head.encode("utf-8", "replace") + t.data)
        os.rename(name + ".tmp", name)


class Client:
    """A line-level SMTP client for protocol tests: send raw bytes, read replies."""

    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            l = self.f.readline()
            if not l:
                raise EOFError("connection closed; got %r" % lines)
            l = l.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(l)
            if len(l) < 4 or l[3] == " ":
                return int(l[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
