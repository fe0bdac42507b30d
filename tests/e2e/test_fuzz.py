"""Short bounded fuzzing runs inside `make check`.

For every harness fuzz/fuzz_NAME.c (built by `make fuzz-build` into
build-fuzz/fuzz/), scripts/fuzz-run replays the saved crashing inputs in
fuzz/regress/NAME/ and then fuzzes for FUZZ_CHECK_SECONDS (default 20)
under ASan+UBSan. Any crash, leak, sanitizer report or missing harness
fails the test; the exec count is printed (pytest -s, or the junit log).
"""

import glob
import os
import re
import subprocess

import pytest

import ghtest

FUZZ_BUILD = os.environ.get("GH_FUZZ_BUILD", os.path.join(ghtest.ROOT, "build-fuzz"))
SECONDS = int(os.environ.get("FUZZ_CHECK_SECONDS", "20"))
NAMES = sorted(re.sub(r"^fuzz_|\.c$", "", os.path.basename(p))
               for p in glob.glob(os.path.join(ghtest.ROOT, "fuzz", "fuzz_*.c")))


def test_every_harness_has_seeds():
    assert NAMES, "no fuzz harnesses found"
    for n in NAMES:
        seeds = glob.glob(os.path.join(ghtest.ROOT, "fuzz", "corpus", n, "*"))
        assert seeds, "fuzz/corpus/%s has no seed inputs" % n


@pytest.mark.parametrize("name", NAMES)
def test_fuzz(name):
    r = subprocess.run([os.path.join(ghtest.ROOT, "scripts", "fuzz-run"), "-t", str(SECONDS), FUZZ_BUILD, name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=SECONDS + 300, cwd=ghtest.ROOT)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-6000:]
    m = re.search(r"fuzz %s: (\d+) execs" % re.escape(name), r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout
