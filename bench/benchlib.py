"""benchlib — what bench/compare and bench/soak share.

  log()              a line on stderr
  children_of(pid)   every descendant of a process
  mem_kb(pid)        (Rss, Pss) from /proc/PID/smaps_rollup
  fd_count(pid)      open file descriptors
  cpu_seconds(roots) user + system CPU of processes and their descendants
  RssSampler         peak memory of named process groups, in a thread
  stop_proc()        SIGTERM, wait, SIGKILL what is left (children too)
  Sink               smtp-sink on a free port (optionally counting messages)
  Driver             the load driver: build/bench/loadgen, or smtp-source
  make_corpus()      the seeded mixed corpus from build/bench/mkcorpus

Everything on 127.0.0.1, ports from the kernel (tests/e2e/ghtest.py).
"""

import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import ghtest  # noqa: E402

BUILD = os.environ.get("GH_BENCH_BUILD", os.path.join(ROOT, "build"))


def log(*a):
    print(os.path.basename(sys.argv[0]) + ":", *a, file=sys.stderr, flush=True)


def children_of(pid):
    """All descendants of pid (from /proc/*/stat)."""
    parent = {}
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        parent[int(st.split("/")[2])] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def mem_kb(pid):
    """(Rss, Pss) of pid in KiB from /proc/PID/smaps_rollup; (0, 0) if gone.
    Pss shares each page among the processes that map it, so summing it
    over a forking server (amavisd's children share the parent's pages)
    does not count shared pages twice as summing Rss does."""
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class RssSampler(threading.Thread):
    """Memory of named groups of processes, sampled every 100 ms.

    groups: {name: function returning root pids}; a root's descendants
    count too. Keeps per group the peak of the summed Rss, the peak of the
    summed Pss and the largest single process Rss."""

    def __init__(self, groups):
        super().__init__(daemon=True)
        self.groups = groups
        self.peak = {g: dict(rss=0, pss=0, one=0) for g in groups}
        self._stop_ev = threading.Event()

    def sample(self):
        for g, roots_fn in self.groups.items():
            rss = pss = one = 0
            for root in roots_fn():
                for p in [root] + children_of(root):
                    r, q = mem_kb(p)
                    rss, pss, one = rss + r, pss + q, max(one, r)
            pk = self.peak[g]
            pk["rss"], pk["pss"], pk["one"] = max(pk["rss"], rss), max(pk["pss"], pss), max(pk["one"], one)

    def run(self):
        while not self._stop_ev.is_set():
            self.sample()
            self._stop_ev.wait(0.1)

    def stop(self):
        self._stop_ev.set()
        self.join()
        return self.peak


def stop_proc(proc, what, timeout=20):
    if proc is None or proc.poll() is not None:
        return
    kids = children_of(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log("%s did not stop on SIGTERM; killing" % what)
        proc.kill()
        proc.wait()
    # children that outlived their parent (amavisd's, clamd has none)
    for k in kids:
        if ghtest._pid_alive(k):
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


def cpu_seconds(roots):
    """User + system CPU seconds of roots and their descendants (those alive)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for root in roots:
        for p in [root] + children_of(root):
            try:
                with open("/proc/%d/stat" % p) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
    return total / tick


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


class Sink:
    """smtp-sink -u nobody 127.0.0.1:PORT 1000, the common downstream.
    With count=True it runs with -c and messages() tells how many it has
    received so far (from its running counter)."""

    def __init__(self, base, count=False):
        self.port = ghtest.free_port()
        self.proc = None
        self.count = count
        self.out = os.path.join(base, "smtp-sink-%d.out" % self.port)

    def start(self):
        argv = ["smtp-sink"] + (["-c"] if self.count else []) + ["-u", "nobody", "127.0.0.1:%d" % self.port, "1000"]
        self._out = open(self.out, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT)
        ghtest.wait_port(self.port, proc=self.proc)
        return self

    def messages(self):
        """Messages received so far ('mesg=N' of the last counter line)."""
        with open(self.out, "rb") as f:
            f.seek(max(0, os.path.getsize(self.out) - 200))
            found = re.findall(rb"mesg=(\d+)", f.read())
        return int(found[-1]) if found else 0

    def stop(self):
        stop_proc(self.proc, "smtp-sink")
        self._out.close()


def make_corpus(dest, n=500, seed=9):
    """The seeded mixed corpus (bench/mkcorpus -p mixed) in dest; returns dest."""
    mk = os.path.join(BUILD, "bench", "mkcorpus")
    subprocess.run([mk, "-p", "mixed", "-s", str(seed), "-n", str(n), "-o", dest], check=True,
                   stdout=subprocess.DEVNULL)
    return dest


class Driver:
    """The load driver: build/bench/loadgen (server branch) when it is built,
    else Postfix's smtp-source (throughput only, one message file)."""

    def __init__(self, corpus):
        self.corpus = corpus
        self.loadgen = os.path.join(BUILD, "bench", "loadgen")
        self.files = sorted(glob.glob(os.path.join(corpus, "*.eml")))
        if not self.files:
            raise SystemExit("compare: no *.eml in corpus %s" % corpus)

    def name(self):
        return "loadgen" if os.access(self.loadgen, os.X_OK) else "smtp-source"

    def run(self, port, conc, n):
        """Send n messages at concurrency conc; returns dict(msgs, secs,
        failed, p50, p95, p99) (latencies in ms, None when not measured)."""
        if self.name() == "smtp-source":
            return self._smtp_source(port, conc, n)
        return self._loadgen(port, conc, n)

    def _smtp_source(self, port, conc, n):
        # the median-sized corpus file, sent n times
        sizes = sorted(self.files, key=os.path.getsize)
        # smtp-source appends CRLF to each line itself: give it LF lines
        f = os.path.join(tempfile.gettempdir(), "gh-compare-source-%d.eml" % os.getpid())
        with open(sizes[len(sizes) // 2], "rb") as src, open(f, "wb") as dst:
            dst.write(src.read().replace(b"\r\n", b"\n"))
        t0 = time.monotonic()
        subprocess.run(["smtp-source", "-s", str(conc), "-m", str(n), "-d", "-F", f, "-f", "bench@example.org",
                        "-t", "rcpt@example.com", "127.0.0.1:%d" % port], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
        secs = time.monotonic() - t0
        os.unlink(f)
        return dict(msgs=n, secs=secs, failed=0, p50=None, p95=None, p99=None)

    def _loadgen(self, port, conc, n):
        # "concurrency 4: 400 msgs in 2.00 s = 200.0 msg/s, latency p50 1.00 ms p95 2.00 ms p99 3.00 ms, failed 0"
        r = subprocess.run([self.loadgen, "-s", "127.0.0.1:%d" % port, "-d", self.corpus, "-c", str(conc),
                            "-n", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1800)
        m = re.search(r"(\d+) msgs in ([\d.]+) s = ([\d.]+) msg/s, latency p50 ([\d.]+) ms p95 ([\d.]+) ms "
                      r"p99 ([\d.]+) ms, failed (\d+)", r.stdout)
        if not m:
            raise RuntimeError("loadgen: unexpected output: %s %s" % (r.stdout, r.stderr[-2000:]))
        if int(m.group(7)):
            log("loadgen: %s failed messages at port %d: %s" % (m.group(7), port, r.stderr.strip()[-500:]))
        return dict(msgs=int(m.group(1)), secs=float(m.group(2)), failed=int(m.group(7)),
                    p50=float(m.group(4)), p95=float(m.group(5)), p99=float(m.group(6)))


