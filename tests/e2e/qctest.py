"""qctest — a real verdict store and quarantine for the quarctl tests.

QStore(dir) writes a scand.conf ([scand] database, quarantine_dir, forward)
and adds messages with the test tool gh-devadd (tests/tools/gh-devadd.c),
which calls quar_write() and store_put() — the same two calls scand makes —
on a real SQLite file.
QStore(dir, scand=sc) uses the store and quarantine a running scand writes.
"""

import json
import os
import sqlite3
import subprocess

import ghtest

QUARCTL = os.path.join(ghtest.BIN, "quarctl")
DEVADD = os.path.join(ghtest.BUILD, "tests", "tools", "gh-devadd")


class QStore:
    def __init__(self, base, forward_port=None, scand=None):
        """A new store under base, or (scand=ghtest.Scand) the one that scand
        writes, read through scand's own configuration file."""
        self.dir = os.path.abspath(base)
        os.makedirs(self.dir, exist_ok=True)
        if scand:
            self.db, self.quarantine, self.conf = scand.db, scand.quarantine, scand.conf_path
            return
        self.db = os.path.join(self.dir, "gatehouse.db")
        self.quarantine = os.path.join(self.dir, "quarantine")
        self.conf = os.path.join(self.dir, "scand.conf")
        self.set_forward(forward_port or ghtest.free_port())

    def set_forward(self, port):
        self.forward_port = port
        with open(self.conf, "w") as f:
            f.write("[scand]\ndatabase = %s\nquarantine_dir = %s\nforward = 127.0.0.1:%d\n"
                    % (self.db, self.quarantine, port))

    def run(self, *args, input=None, check=False):
        """quarctl -c CONF args...; returns CompletedProcess (bytes stdout/stderr)."""
        r = subprocess.run([QUARCTL, "-c", self.conf] + list(args), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, stdin=None if input else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("quarctl %s: exit %d\n%s" % (args, r.returncode, r.stderr.decode()))
        return r

    def add(self, category, msg, rcpts=("u@example.com",), sender="alice@example.org", when=None, gz=False,
            **fields):
        path = os.path.join(self.dir, "in-%d.eml" % len(os.listdir(self.dir)))
        with open(path, "wb") as f:
            f.write(msg)
        args = [DEVADD, "-c", self.conf, "--file", path, "--category", category, "--sender", sender]
        for r in rcpts:
            args += ["--rcpt", r]
        if when:
            args += ["--time", when]
        if gz:
            args.append("--gz")
        for k, v in fields.items():
            args += ["--" + k, v]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError("gh-devadd %s: exit %d\n%s" % (args, r.returncode, r.stderr.decode()))
        return r.stdout.decode().strip()

    def json(self, *args):
        r = self.run(*args, "--json", check=True)
        return json.loads(r.stdout)

    def row(self, mail_id):
        return self.json("show", mail_id)

    def sql(self, query, *params):
        with sqlite3.connect(self.db) as c:
            return c.execute(query, params).fetchall()

    def path_of(self, mail_id):
        return os.path.join(self.quarantine, self.row(mail_id)["quar_path"])
