#!/usr/bin/env bash
# profile.sh — where does a bench_ring run spend its syscalls and cycles?
#
# Usage: bench/profile.sh [SIZE [BATCH]]          (as root; default 64 256)
# Env:   D=3 (seconds measured, after a 1.5 s warm-up)  RECORD=1 (also perf record -g)
#        WAIT=yield  BUILD=<repo>/build  OUT=<repo>/bench/out
#
# Starts a private vmnetd, runs bench_ring, and while it sends attaches
#   perf stat --per-thread  to vmnetd, the sender and the receiver, counting
#   syscalls by kind, context switches, migrations and CPU time per thread;
#   then prints them per million frames received (and per million sent).
# With RECORD=1 it also takes a call-graph profile of the three processes
# (perf record -g) and prints the top symbols per process.
# Output files: $OUT/profile-SIZE-BATCH.{stat,txt,report}.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
SIZE=${1:-64}
BATCH=${2:-256}
D=${D:-3}
WAIT=${WAIT:-yield}
WARM=1.5

[ "$(id -u)" -eq 0 ] || { echo "profile.sh: needs root (perf on other processes)"; exit 1; }
[ -n "${NOBUILD:-}" ] || ninja -C "$BUILD" bench/bench_ring daemon/vmnetd >/dev/null
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/vmnet-prof.XXXXXX)
DAEMON_PID=""
BENCH_PID=""
cleanup() {
	set +e
	[ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

export VMNET_SOCKET=$WORK/vmnetd.sock
"$BUILD/daemon/vmnetd" --socket "$VMNET_SOCKET" --state-dir "$WORK/state" >"$WORK/vmnetd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$VMNET_SOCKET" ] && break; sleep 0.05; done

BASE=$OUT/profile-$SIZE-$BATCH
TOTAL=$(awk -v d="$D" -v r="${RECORD:-}" 'BEGIN { print (r != "" ? 2 * d : d) + 3 }')
"$BUILD/bench/bench_ring" -s "$SIZE" -b "$BATCH" -t "$TOTAL" -w 0 -W "$WAIT" -p "$DAEMON_PID" >"$WORK/result" 2>"$WORK/err" &
BENCH_PID=$!
for _ in $(seq 200); do grep -q "receiver pid" "$WORK/err" && break; sleep 0.05; done
TX=$(sed -n 's/.*sender pid \([0-9]*\).*/\1/p' "$WORK/err")
RX=$(sed -n 's/.*receiver pid \([0-9]*\).*/\1/p' "$WORK/err")
sleep "$WARM"

EV=context-switches,cpu-migrations,task-clock
for s in read write sendto recvfrom poll ppoll epoll_wait epoll_pwait futex sched_yield clock_nanosleep nanosleep; do
	EV="$EV,syscalls:sys_enter_$s"
done
perf stat --per-thread -e "$EV" -p "$DAEMON_PID,$TX,$RX" -x, -o "$BASE.stat" -- sleep "$D" 2>/dev/null
if [ -n "${RECORD:-}" ]; then
	perf record -q -g -o "$BASE.perf.data" -p "$DAEMON_PID,$TX,$RX" -- sleep "$D" 2>/dev/null
fi
wait "$BENCH_PID" || true
BENCH_PID=""
RES=$(cat "$WORK/result")
echo "$RES" >"$BASE.txt"
RXM=$(echo "$RES" | sed -n 's/.*rx_mpps=\([0-9.]*\).*/\1/p')
TXM=$(echo "$RES" | sed -n 's/.*tx_mpps=\([0-9.]*\).*/\1/p')

{
	echo "# bench_ring size=$SIZE batch=$BATCH, perf stat over $D s; vmnetd=$DAEMON_PID sender=$TX receiver=$RX"
	echo "# $RES"
	echo "# rx ${RXM} Mpps, tx ${TXM} Mpps (whole-run averages, used to normalise)"
	printf '%-28s %-22s %12s %12s %12s\n' thread event count per_Mrx per_Mtx
	# perf stat -x, --per-thread: comm-tid,count,unit,event,...
	awk -F, -v d="$D" -v rxm="$RXM" -v txm="$TXM" -v dp="$DAEMON_PID" -v tx="$TX" -v rx="$RX" '
		/^#/ || NF < 4 { next }
		{
			thr = $1; cnt = $2; ev = $4; sub(/^syscalls:sys_enter_/, "", ev)
			if (cnt == "<not counted>" || cnt + 0 == 0) next
			if (ev == "task-clock") { printf "%-28s %-22s %11.1f%%\n", thr, "cpu", cnt / (d * ($3 == "msec" ? 1e3 : 1e9)) * 100; next }
			printf "%-28s %-22s %12d %12.1f %12.1f\n", thr, ev, cnt, cnt / (rxm * d), cnt / (txm * d)
		}' "$BASE.stat"
} | tee "$BASE.report"
echo "(threads: vmnetd-$DAEMON_PID = daemon; bench_ring-$TX = sender main thread; bench_ring-$RX = receiver main (idle);"
echo " other bench_ring-* = libvmnet event threads; dispatch-worker-* = callback/handler threads)"
echo "(processes: map a tid to its process with the pids above: the sender's threads follow $TX, the receiver's follow $RX)"

if [ -n "${RECORD:-}" ]; then
	perf report -i "$BASE.perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -v '^$' |
		grep -E '^ +[0-9]' | head -60 | tee -a "$BASE.report"
	perf report -i "$BASE.perf.data" --no-children --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]' | tee -a "$BASE.report"
fi
