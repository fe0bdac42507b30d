"""The soak run inside `make check`: bench/soak for SOAK_SECONDS (default
120) at concurrency 8 on the mixed corpus, against the optimised scand
(build/bin/scand; GH_BENCH_BUILD overrides). It fails when a message is
unaccounted for (count in != count out + quarantined, a 250 without its
row, a quarantine row without its file), a file descriptor leaks, Rss
keeps growing after warm-up, or scand dies. Its figures are printed."""

import os
import subprocess

import ghtest

SECONDS = int(os.environ.get("SOAK_SECONDS", "120"))


def test_soak_mixed_corpus_concurrency_8():
    r = subprocess.run([os.path.join(ghtest.ROOT, "bench", "soak"), "--seconds", str(SECONDS), "--conc", "8"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=SECONDS + 600)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "soak: ok" in r.stdout
