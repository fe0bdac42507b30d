"""MIME part-count bombs against the optimised scand (build/bin/scand;
GH_BENCH_BUILD overrides: the ASan build's allocator would measure
itself): bench/partbomb sends 4 bombs of 5 MB, then 4 of 40 MB, at once
(max_servers 4). Each must be answered 2xx and recorded UNCHECKED, scand
must survive, and its anonymous memory (RssAnon, sampled every 20 ms)
must stay within a generous bound over idle: the target is +64 MiB, the
test allows 128. Before the pre-parse bound, 4 x 5 MB took +2.9 GiB and
4 x 40 MB killed scand. The figures are printed (bench output)."""

import os
import subprocess

import ghtest


def test_part_bombs_5_and_40_mb_at_concurrency_4():
    r = subprocess.run([os.path.join(ghtest.ROOT, "bench", "partbomb"), "--sizes", "5,40", "--conc", "4",
                        "--limit-mb", "128", "--as-limit-mb", "3072"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "partbomb: ok" in r.stdout
    assert r.stdout.count("scand alive") == 2
