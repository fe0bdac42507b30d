#!/bin/sh
# bench/report-bench.sh [N] — scand-report over a store with N messages
# (default 1,000,000, all in ISO week 2026-W47, 1-3 recipients each):
# time and peak memory of generating the store, the weekly report in each
# format, rrd-update --rebuild, an incremental rrd-update and a graph.
# Uses the optimised build ($GH_BUILD, default build/). Needs /usr/bin/time.
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000000}
B=${GH_BUILD:-$PWD/build}
D=$(mktemp -d /tmp/gh-report-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
SINCE=1794787200 # Monday 2026-11-16 00:00 UTC
UNTIL=$((SINCE + 7 * 86400))
NOW=$((UNTIL + 3600))
printf '[scand]\ndatabase = %s/g.db\n[report]\nrrd_file = %s/g.rrd\n' "$D" "$D" >"$D/scand.conf"

measure() { # label command...
	label=$1
	shift
	/usr/bin/time -v "$@" >"$D/out" 2>"$D/time" || { cat "$D/time"; exit 1; }
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$D/time")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$D/time")
	usr=$(sed -n 's/.*User time (seconds): //p' "$D/time")
	sys=$(sed -n 's/.*System time (seconds): //p' "$D/time")
	printf '%-34s wall %8s  cpu %6.2f s  peak RSS %7s KiB\n' "$label" "$wall" "$(echo "$usr + $sys" | bc)" "$rss"
}

echo "scand-report benchmark: $N messages in 2026-W47 ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
measure "generate store (one transaction)" "$B/bench/report_gen" bulk "$D/g.db" "$N" "$SINCE" "$UNTIL" 42
echo "  store: $(du -h "$D/g.db" | cut -f1)"
for f in text csv json html; do
	measure "weekly --format $f" "$B/bin/scand-report" -c "$D/scand.conf" --now "$NOW" weekly --format "$f"
done
measure "rrd-update --rebuild" "$B/bin/scand-report" -c "$D/scand.conf" --now "$NOW" rrd-update --rebuild
measure "rrd-update (incremental, +5 min)" "$B/bin/scand-report" -c "$D/scand.conf" --now $((NOW + 300)) rrd-update
measure "graph --period week" "$B/bin/scand-report" -c "$D/scand.conf" --now "$NOW" graph --period week --out "$D"
