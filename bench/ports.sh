#!/usr/bin/env bash
# ports.sh — frames/s and Gbit/s through vmnetd's VMM socket ports (QEMU
# -netdev stream and -netdev dgram framing, bench_sock) beside the library's
# ring path (bench_ring), in one run, 64 and 1514-byte frames, batch 256.
#
# Usage: bench/ports.sh                    (as root; see bench/README.md)
# Env:   T=3 (seconds per run)  WARMUP=0.5  SIZES="64 1514"  BATCH=256
#        QLEN=512 (net.unix.max_dgram_qlen in the private namespace; 10 = kernel default)
#        UNBATCHED=1 (also rows stream-b1 and dgram-b1: the socket clients move one frame
#        per call, as QEMU does: one write per frame, one sendto/recvfrom per datagram)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
#
# Starts a private vmnetd (own socket and state dir in a temp dir, no host
# tap), attaches one --qemu-stream socket (both bench clients connect to it:
# two connections = two ports) and two --dgram sockets (one per client).
# vmnetd and the benchmarks run in a private network namespace, only so that
# net.unix.max_dgram_qlen (per namespace, taken by a socket when it is made)
# can be set to QLEN there without touching the host's setting.
# The daemon is killed by PID on exit, the namespace deleted, the temp dir removed.
# Output: $OUT/ports.md (table), $OUT/ports-raw.tsv, $OUT/ports-log.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
T=${T:-3}
WARMUP=${WARMUP:-0.5}
SIZES=${SIZES:-"64 1514"}
BATCH=${BATCH:-256}
QLEN=${QLEN:-512}

[ "$(id -u)" -eq 0 ] || { echo "ports.sh: needs root (like run.sh)"; exit 1; }

if [ -z "${NOBUILD:-}" ]; then
	ninja -C "$BUILD" bench/bench_ring bench/bench_sock daemon/vmnetd cli/vmnet >/dev/null
fi
VMNETD=$BUILD/daemon/vmnetd
VMNET=$BUILD/cli/vmnet
RING=$BUILD/bench/bench_ring
SOCK=$BUILD/bench/bench_sock

. "$HERE/lib.sh"
bench_begin ports
ip netns exec "$NS" sysctl -qw net.unix.max_dgram_qlen="$QLEN"
bench_daemon

S=$WORK/qs.sock DA=$WORK/da.sock DB=$WORK/db.sock
"$VMNET" attach --qemu-stream "$S" --name qs >>"$LOG" 2>&1
"$VMNET" attach --dgram "$DA" --name da >>"$LOG" 2>&1
"$VMNET" attach --dgram "$DB" --name db >>"$LOG" 2>&1

run_one() { # run_one impl size
	local impl=$1 size=$2 line rc=0
	local batch=$BATCH
	[ "${impl%-b1}" != "$impl" ] && batch=1
	local common=(-s "$size" -b "$batch" -t "$T" -w "$WARMUP" -p "$DAEMON_PID")
	case ${impl%-b1} in
	ring) line=$(ip netns exec "$NS" "$RING" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	stream) line=$(ip netns exec "$NS" "$SOCK" stream -A "$S" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	dgram) line=$(ip netns exec "$NS" "$SOCK" dgram -A "$DA" -B "$DB" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	esac
	echo "$line" >>"$LOG"
	line=${line/impl=ours /impl=ring }
	line=${line/impl=${impl%-b1} /impl=$impl }
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		echo "  $impl size=$size FAILED (see $LOG)"
		return 0
	fi
	printf '%s\n' "${line#RESULT }" | tr ' ' '\t' >>"$RAW"
	echo "$line" | awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  %-6s %4s B batch %3s: %7.3f Mpps %7.3f Gbit/s (sent %.3f Mpps, loss %.2f%%, cpu tx/rx/d %s/%s/%s%%)\n",
			v["impl"], v["size"], v["batch"], v["rx_mpps"], v["rx_gbps"], v["tx_mpps"], v["loss_pct"],
			v["cpu_tx"], v["cpu_rx"], v["cpu_d"] }'
}

IMPLS="ring stream dgram"
[ -n "${UNBATCHED:-}" ] && IMPLS="$IMPLS stream-b1 dgram-b1"
echo "ports: T=${T}s, batch $BATCH, results in $OUT"
for size in $SIZES; do
	for impl in $IMPLS; do
		run_one "$impl" "$size"
	done
done

field() { # field impl size key
	awk -F'\t' -v i="$1" -v s="$2" -v k="$3" '{
		delete v; for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
		if (v["impl"] == i && v["size"] == s) { print v[k]; exit } }' "$RAW"
}

{
	echo "| size (B) | path | Mpps | Gbit/s | port/ring | sent Mpps | loss % | cpu tx | cpu rx | cpu vmnetd |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		rm_=$(field ring "$size" rx_mpps)
		for impl in $IMPLS; do
			m=$(field "$impl" "$size" rx_mpps)
			if [ -z "$m" ]; then
				echo "| $size | $impl | failed | | | | | | | |"
				continue
			fi
			awk -v s="$size" -v i="$impl" -v m="$m" -v rm="${rm_:-0}" -v g="$(field "$impl" "$size" rx_gbps)" \
				-v tm="$(field "$impl" "$size" tx_mpps)" -v l="$(field "$impl" "$size" loss_pct)" \
				-v ct="$(field "$impl" "$size" cpu_tx)" -v cr="$(field "$impl" "$size" cpu_rx)" \
				-v cd="$(field "$impl" "$size" cpu_d)" 'BEGIN {
				r = (i == "ring") ? "1" : (rm > 0 ? sprintf("%.2f", m / rm) : "n/a")
				printf "| %s | %s | %.3f | %.2f | %s | %.3f | %.1f | %s | %s | %s |\n", s, i, m, g, r, tm, l, ct, cr, cd }'
		done
	done
	echo
	echo "Command: QLEN=$QLEN T=$T WARMUP=$WARMUP SIZES=\"$SIZES\" BATCH=$BATCH${UNBATCHED:+ UNBATCHED=1} $0; $(date -u '+%Y-%m-%d %H:%M UTC'),"
	[ -n "${UNBATCHED:-}" ] && echo "Rows *-b1: one frame per call (batch 1), as QEMU moves them; port/ring still against ring at batch $BATCH."
	echo "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files),"
	echo "kernel $(uname -r), $(nproc) CPUs, net.unix.max_dgram_qlen=$(ip netns exec "$NS" sysctl -n net.unix.max_dgram_qlen) in the private namespace (QLEN)."
	echo "Target (issue): each port within 2x of the ring path (port/ring >= 0.5)."
} >"$OUT/ports.md"

echo
cat "$OUT/ports.md"
