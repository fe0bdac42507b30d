#!/usr/bin/python3
"""quarctl-bench — how fast quarctl lists a large quarantine.

Fills a scratch store with N quarantined rows (default 100,000) through
store_put() (bench/qc_fill), then prints wall times (min and median of
several runs) for:
  - quarctl list --limit 50            (text, and --json, and --category virus)
  - the TUI's first screen: quarctl --bench-first-screen in a pseudo-terminal
    at 80x24, wall time from exec to exit, and quarctl's own figure (from the
    start of the TUI to the first refresh).
The target is under 200 ms each. Not a test: it prints figures.

usage: bench/quarctl-bench.py [N]     (GH_BUILD selects the build, default build)
"""

import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import fcntl
import termios

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("GH_BUILD", os.path.join(ROOT, "build"))
QUARCTL = os.path.join(BUILD, "bin", "quarctl")
FILL = os.path.join(BUILD, "bench", "qc_fill")
RUNS = 7


def timed(argv):
    t = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = (time.monotonic() - t) * 1000
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (argv, r.stderr.decode()))
    return dt, r.stdout


def tui_first_screen(conf):
    """Run the TUI in a pty (80x24) until it exits; wall ms and its own ms."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execv(QUARCTL, [QUARCTL, "--bench-first-screen", "-c", conf])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    t = time.monotonic()
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 10)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    wall = (time.monotonic() - t) * 1000
    m = re.search(rb"first screen: (\d+) ms \((\d+) rows match\)", out)
    if not m:
        sys.exit("no first-screen figure in TUI output")
    return wall, int(m.group(1)), int(m.group(2))


def report(name, samples):
    print("%-44s min %6.1f ms   median %6.1f ms" % (name, min(samples), statistics.median(samples)))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    d = tempfile.mkdtemp(prefix="gh-qcbench-")
    db = os.path.join(d, "gatehouse.db")
    conf = os.path.join(d, "scand.conf")
    with open(conf, "w") as f:
        f.write("[scand]\ndatabase = %s\nquarantine_dir = %s/quarantine\n" % (db, d))
    print(subprocess.run([FILL, db, str(n)], check=True, stdout=subprocess.PIPE, text=True).stdout.strip())
    q = [QUARCTL, "-c", conf]
    for name, args in (("quarctl list --limit 50", ["list", "--limit", "50"]),
                       ("quarctl list --limit 50 --json", ["list", "--limit", "50", "--json"]),
                       ("quarctl list --limit 50 --category virus", ["list", "--limit", "50", "--category", "virus"]),
                       ("quarctl stats", ["stats"])):
        samples = []
        for _ in range(RUNS):
            dt, out = timed(q + args)
            samples.append(dt)
        if args[0] == "list" and "--json" not in args:
            assert len(out.splitlines()) == 50, "expected 50 rows"
        report(name, samples)
    walls, owns = [], []
    for _ in range(RUNS):
        wall, own, rows = tui_first_screen(conf)
        walls.append(wall)
        owns.append(own)
    report("TUI first screen (exec to exit, 80x24)", walls)
    report("TUI first screen (quarctl's own figure)", owns)
    print("rows matching the TUI's default view: %d" % rows)
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
