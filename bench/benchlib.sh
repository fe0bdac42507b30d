# benchlib.sh — shared by the shell benchmarks (passthrough, lists):
# a temp dir ($tmp) removed at exit with every process in $pids stopped,
# free_port, wait_port. Sourced after "set -eu" and "cd" to the top.
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/gh-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 100); do
		$PY -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$(basename "$0"): nothing listens on $1" >&2
	return 1
}

